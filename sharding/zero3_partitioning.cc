// How Zero3Parameters turns a model's tensor slots into this rank's partitions (the
// constructor's half of zero3_parameters.h): one parameter per distinct tensor with its dtype
// and partition size (slot layouts: alignment, kept dtypes), persistence, the units' parameter
// ids, and the pieces cut into per-unit flat buffers. Gathering them back is zero3_parameters.cc.
#include <algorithm>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/torch_compat.h"
#include "sharding/tensor_storage.h"
#include "sharding/zero3_autograd.h"
#include "sharding/zero3_parameters.h"

namespace zt::sharding {

namespace {

// A new parameter's name, shape, dtype and partition size (persistence and storage are the
// caller's). InvalidArgument for a bad slot layout or a trainable non-floating tensor.
absl::StatusOr<Zero3Parameter> DescribeParameter(const std::string& name, const at::Tensor& t,
                                                 const Zero3ParameterOptions& options, int world) {
  const auto found = options.slot_layouts.find(name);
  const Zero3SlotLayout layout =
      found != options.slot_layouts.end() ? found->second : Zero3SlotLayout{};
  if (layout.alignment < 1) {
    return absl::InvalidArgumentError(absl::StrCat("zero3: tensor \"", name,
                                                   "\" has partition alignment ",
                                                   layout.alignment, ", expected >= 1"));
  }
  Zero3Parameter p;
  p.names = {name};
  p.shape = t.sizes().vec();
  const bool cast = options.floating_dtype.has_value() && !layout.keep_dtype &&
                    at::isFloatingType(t.scalar_type());
  p.dtype = cast ? *options.floating_dtype : t.scalar_type();
  p.numel = t.numel();
  const int64_t chunk = world * layout.alignment;
  p.partition_numel = (p.numel + chunk - 1) / chunk * layout.alignment;
  p.trainable = t.requires_grad();
  p.device = options.device.value_or(t.device());
  if (p.trainable && !at::isFloatingType(p.dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "zero3: tensor \"", name, "\" requires grad but is ", c10::toString(p.dtype),
        ", expected a floating-point dtype for a trainable tensor"));
  }
  return p;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Zero3Parameters>> Zero3Parameters::Create(
    std::vector<std::pair<std::string, at::Tensor*>> slots,
    std::vector<std::vector<std::string>> units, const Zero3ParameterOptions& options,
    std::shared_ptr<Communicator> comm) {
  if (comm == nullptr) return absl::InvalidArgumentError("zero3: no communicator");
  if (options.persistence_threshold < 0 || options.prefetch_bucket_numel < 0 ||
      options.max_live_numel < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "zero_optimization: stage3_param_persistence_threshold (", options.persistence_threshold,
        "), stage3_prefetch_bucket_size (", options.prefetch_bucket_numel,
        ") and stage3_max_live_parameters (", options.max_live_numel,
        ") must be >= 0"));
  }
  std::unique_ptr<Zero3Parameters> out(new Zero3Parameters(options, std::move(comm)));
  ZT_RETURN_IF_ERROR(out->Partition(std::move(slots), units));
  return out;
}

absl::Status Zero3Parameters::Partition(std::vector<std::pair<std::string, at::Tensor*>> slots,
                                        const std::vector<std::vector<std::string>>& units) {
  std::unordered_map<std::string, int> by_name;
  std::vector<at::Tensor> sources;  // per parameter: the model's tensor, flattened
  ZT_RETURN_IF_ERROR(DescribeSlots(slots, by_name, sources));
  ZT_RETURN_IF_ERROR(IndexUnits(units, by_name));
  grad_accumulators_.resize(params_.size());
  CutPartitions(sources);
  // Only now: aliasing slots must all be seen before any is replaced.
  for (auto& [name, slot] : slots) {
    const Zero3Parameter& p = params_[by_name[name]];
    *slot = at::empty({0}, slot->options().dtype(p.dtype).device(p.device).requires_grad(false));
  }
  return absl::OkStatus();
}

absl::Status Zero3Parameters::DescribeSlots(
    const std::vector<std::pair<std::string, at::Tensor*>>& slots,
    std::unordered_map<std::string, int>& by_name, std::vector<at::Tensor>& sources) {
  std::unordered_map<const void*, int> by_impl;
  int64_t persistent_numel = 0;
  for (const auto& [name, slot] : slots) {
    const at::Tensor& t = *slot;
    if (!t.defined() || t.numel() == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "zero3: tensor \"", name, "\" is ", t.defined() ? "empty" : "undefined",
          ", expected a model tensor with at least one element (already partitioned?)"));
    }
    auto [it, added] = by_impl.emplace(t.unsafeGetTensorImpl(), num_params());
    by_name[name] = it->second;
    if (!added) {
      params_[it->second].names.push_back(name);
      continue;
    }
    ZT_ASSIGN_OR_RETURN(Zero3Parameter p, DescribeParameter(name, t, options_, comm_->Size()));
    p.persistent = p.numel <= options_.persistence_threshold &&
                   persistent_numel + p.numel <= options_.model_persistence_numel;
    if (p.persistent) {
      persistent_numel += p.numel;
      p.full = t.detach().to(p.device, p.dtype, /*non_blocking=*/false, /*copy=*/true);
    }
    sources.push_back(t.detach().reshape({-1}));
    params_.push_back(std::move(p));
  }
  return absl::OkStatus();
}

absl::Status Zero3Parameters::IndexUnits(const std::vector<std::vector<std::string>>& units,
                                         const std::unordered_map<std::string, int>& by_name) {
  for (size_t u = 0; u < units.size(); ++u) {
    std::vector<int> ids;
    int64_t numel = 0;
    for (const std::string& name : units[u]) {
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        return absl::InvalidArgumentError(absl::StrCat("zero3: unit ", u, " names tensor \"",
                                                       name, "\", which is not a model slot"));
      }
      ids.push_back(it->second);
      if (!params_[it->second].persistent) numel += params_[it->second].numel;
    }
    units_.push_back(std::move(ids));
    unit_numel_.push_back(numel);
  }
  return absl::OkStatus();
}

void Zero3Parameters::CutPartitions(std::vector<at::Tensor>& sources) {
  const int rank = comm_->Rank();
  // This rank's piece of parameter `id` into `partition` ([partition_numel], tail zeroed); then
  // only the piece stays: a checkpoint mapping's pages need not (tensor_storage.h ReleaseHostPages).
  auto cut = [&](int id, at::Tensor partition) {
    Zero3Parameter& p = params_[id];
    const int64_t begin = std::min<int64_t>(rank * p.partition_numel, p.numel);
    const int64_t end = std::min<int64_t>(begin + p.partition_numel, p.numel);
    partition.narrow(0, 0, end - begin).copy_(sources[id].narrow(0, begin, end - begin));
    partition.narrow(0, end - begin, p.partition_numel - (end - begin)).zero_();
    if (!p.persistent) ReleaseHostPages(sources[id]);
    sources[id] = at::Tensor();
    p.partition = p.trainable ? partition.requires_grad_(true) : partition;
  };
  // Offloaded partitions of a device model in pinned memory (offload_param.pin_memory), so each
  // gather's host-to-device copy is asynchronous.
  auto partition_options = [&](const Zero3Parameter& p) {
    const at::TensorOptions options = at::TensorOptions().dtype(p.dtype);
    if (!options_.offload_param) return options.device(p.device);
    const bool pin = options_.pin_memory && p.device.is_cuda() && common::PinnedMemoryAvailable();
    return options.device(at::kCPU).pinned_memory(pin);
  };
  // A unit's partitions of one (dtype, device) group live side by side in one flat buffer (the
  // first unit naming them), so its coalesced all-gather sends that buffer without packing. Cut
  // straight into it: no per-parameter copy is allocated and freed on the way.
  std::vector<bool> placed(params_.size(), false);
  unit_flats_.resize(units_.size());
  for (size_t u = 0; u < units_.size(); ++u) {
    std::vector<int> ids;
    for (int id : units_[u]) {
      if (!params_[id].persistent) ids.push_back(id);
    }
    for (const std::vector<size_t>& group : GroupByDtypeAndDevice(*this, ids)) {
      at::Tensor& flat = unit_flats_[u].emplace_back();
      bool fresh = group.size() > 1;
      for (size_t k : group) fresh = fresh && !placed[ids[k]];
      if (!fresh) continue;  // shared with an earlier unit: packed when gathered
      int64_t numel = 0;
      for (size_t k : group) numel += params_[ids[k]].partition_numel;
      flat = at::empty({numel}, partition_options(params_[ids[group[0]]]));
      int64_t offset = 0;
      for (size_t k : group) {
        const int id = ids[k];
        cut(id, flat.narrow(0, offset, params_[id].partition_numel).detach());
        placed[id] = true;
        offset += params_[id].partition_numel;
      }
    }
  }
  for (int id = 0; id < num_params(); ++id) {
    const Zero3Parameter& p = params_[id];
    if (placed[id] || (p.persistent && !p.trainable)) continue;
    cut(id, at::empty({p.partition_numel}, partition_options(p)));
  }
}

}  // namespace zt::sharding
