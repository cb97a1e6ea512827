#include "sharding/zero/zero3_partitioning.h"

#include <algorithm>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/torch_compat.h"
#include "sharding/zero/tensor_storage.h"
#include "sharding/zero/zero3_autograd.h"

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

// One parameter per distinct tensor (aliases join it; `sources` gets its flattened tensor).
absl::Status DescribeSlots(const std::vector<std::pair<std::string, at::Tensor*>>& slots,
                           const Zero3ParameterOptions& options, int world,
                           std::vector<Zero3Parameter>& params,
                           std::unordered_map<std::string, int>& by_name,
                           std::vector<at::Tensor>& sources) {
  std::unordered_map<const void*, int> by_impl;
  int64_t persistent_numel = 0;
  for (const auto& [name, slot] : slots) {
    const at::Tensor& t = *slot;
    if (!t.defined() || t.numel() == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "zero3: tensor \"", name, "\" is ", t.defined() ? "empty" : "undefined",
          ", expected a model tensor with at least one element (already partitioned?)"));
    }
    auto [it, added] = by_impl.emplace(t.unsafeGetTensorImpl(), static_cast<int>(params.size()));
    by_name[name] = it->second;
    if (!added) {
      params[it->second].names.push_back(name);
      continue;
    }
    ZT_ASSIGN_OR_RETURN(Zero3Parameter p, DescribeParameter(name, t, options, world));
    p.persistent = p.numel <= options.persistence_threshold &&
                   persistent_numel + p.numel <= options.model_persistence_numel;
    if (p.persistent) {
      persistent_numel += p.numel;
      p.full = t.detach().to(p.device, p.dtype, /*non_blocking=*/false, /*copy=*/true);
    }
    sources.push_back(t.detach().reshape({-1}));
    params.push_back(std::move(p));
  }
  return absl::OkStatus();
}

// The units' parameter ids and gathered sizes.
absl::Status IndexUnits(const std::vector<std::vector<std::string>>& units,
                        const std::unordered_map<std::string, int>& by_name,
                        Zero3Partitioning& out) {
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
      if (!out.params[it->second].persistent) numel += out.params[it->second].numel;
    }
    out.units.push_back(std::move(ids));
    out.unit_numel.push_back(numel);
  }
  return absl::OkStatus();
}

// This rank's pieces cut from `sources` (each released once cut).
void CutPartitions(std::vector<at::Tensor>& sources, const Zero3ParameterOptions& options, int rank,
                   Zero3Partitioning& out) {
  std::vector<Zero3Parameter>& params = out.params;
  // This rank's piece of parameter `id` into `partition` ([partition_numel], tail zeroed); then
  // only the piece stays: a checkpoint mapping's pages need not (tensor_storage.h ReleaseHostPages).
  auto cut = [&](int id, at::Tensor partition) {
    Zero3Parameter& p = params[id];
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
    const at::TensorOptions tensor = at::TensorOptions().dtype(p.dtype);
    if (!options.offload_param) return tensor.device(p.device);
    const bool pin = options.pin_memory && p.device.is_cuda() && common::PinnedMemoryAvailable();
    return tensor.device(at::kCPU).pinned_memory(pin);
  };
  // A unit's partitions of one (dtype, device) group live side by side in one flat buffer (the
  // first unit naming them), so its coalesced all-gather sends that buffer without packing. Cut
  // straight into it: no per-parameter copy is allocated and freed on the way.
  std::vector<bool> placed(params.size(), false);
  out.unit_flats.resize(out.units.size());
  for (size_t u = 0; u < out.units.size(); ++u) {
    std::vector<int> ids;
    for (int id : out.units[u]) {
      if (!params[id].persistent) ids.push_back(id);
    }
    for (const std::vector<size_t>& group : GroupByDtypeAndDevice(params, ids)) {
      at::Tensor& flat = out.unit_flats[u].emplace_back();
      bool fresh = group.size() > 1;
      for (size_t k : group) fresh = fresh && !placed[ids[k]];
      if (!fresh) continue;  // shared with an earlier unit: packed when gathered
      int64_t numel = 0;
      for (size_t k : group) numel += params[ids[k]].partition_numel;
      flat = at::empty({numel}, partition_options(params[ids[group[0]]]));
      int64_t offset = 0;
      for (size_t k : group) {
        const int id = ids[k];
        cut(id, flat.narrow(0, offset, params[id].partition_numel).detach());
        placed[id] = true;
        offset += params[id].partition_numel;
      }
    }
  }
  for (int id = 0; id < static_cast<int>(params.size()); ++id) {
    const Zero3Parameter& p = params[id];
    if (placed[id] || (p.persistent && !p.trainable)) continue;
    cut(id, at::empty({p.partition_numel}, partition_options(p)));
  }
}

}  // namespace

absl::StatusOr<Zero3Partitioning> PartitionSlots(
    std::vector<std::pair<std::string, at::Tensor*>> slots,
    const std::vector<std::vector<std::string>>& units, const Zero3ParameterOptions& options,
    int rank, int world) {
  Zero3Partitioning out;
  std::unordered_map<std::string, int> by_name;
  std::vector<at::Tensor> sources;  // per parameter: the model's tensor, flattened
  ZT_RETURN_IF_ERROR(DescribeSlots(slots, options, world, out.params, by_name, sources));
  ZT_RETURN_IF_ERROR(IndexUnits(units, by_name, out));
  CutPartitions(sources, options, rank, out);
  // Only now: aliasing slots must all be seen before any is replaced.
  for (auto& [name, slot] : slots) {
    const Zero3Parameter& p = out.params[by_name[name]];
    *slot = at::empty({0}, slot->options().dtype(p.dtype).device(p.device).requires_grad(false));
  }
  return out;
}

}  // namespace zt::sharding
