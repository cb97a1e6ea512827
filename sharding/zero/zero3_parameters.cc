#include "sharding/zero/zero3_parameters.h"

#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "sharding/zero/tensor_storage.h"
#include "sharding/zero/zero3_autograd.h"
#include "sharding/zero/zero3_partitioning.h"

namespace zt::sharding {

Zero3ParameterOptions Zero3ParameterOptionsFromDsConfig(const configs::DsConfig& config) {
  Zero3ParameterOptions options;
  options.persistence_threshold = config.zero.param_persistence_threshold_numel;
  options.model_persistence_numel = config.zero.model_persistence_threshold_numel;
  options.prefetch_bucket_numel = config.zero.prefetch_bucket_numel;
  options.max_live_numel = config.zero.max_live_parameters_numel;
  options.offload_param = config.zero.offload_param.device == configs::OffloadDevice::kCpu;
  options.pin_memory = config.zero.offload_param.pin_memory;
  return options;
}

// One coalesced all-gather (docs/training.md, "Stage 3"): the partitions of the parameters of one
// (dtype, device) group side by side in `send` (Σ ps elements: the unit's flat buffer, or packed),
// gathered into `received` [W * Σ ps]: rank r's chunk holds [r * ps_j, (r + 1) * ps_j) of each
// parameter j.
struct Zero3Parameters::GatherGroup {
  std::vector<size_t> members;   // indices into Gather::ids
  std::vector<int64_t> offsets;  // each member's offset within a rank's chunk
  int64_t chunk_numel = 0;       // Σ ps
  at::Tensor send;
  at::Tensor received;
  std::unique_ptr<Work> work;
};

struct Zero3Parameters::Gather {
  int unit = 0;
  int64_t numel = 0;
  std::vector<int> ids;             // the non-persistent parameters gathered, in unit order
  std::vector<GatherGroup> groups;  // in order of first appearance: the same on every rank
  std::vector<at::Tensor> buffers;  // per id, [W * ps]: filled by WaitCoalesced
};

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
  ZT_ASSIGN_OR_RETURN(Zero3Partitioning parts,
                      PartitionSlots(std::move(slots), units, options, comm->Rank(), comm->Size()));
  std::unique_ptr<Zero3Parameters> out(new Zero3Parameters(options, std::move(comm)));
  out->params_ = std::move(parts.params);
  out->units_ = std::move(parts.units);
  out->unit_numel_ = std::move(parts.unit_numel);
  out->unit_flats_ = std::move(parts.unit_flats);
  out->grad_accumulators_.resize(out->params_.size());
  return out;
}

Zero3Parameters::Zero3Parameters(Zero3ParameterOptions options, std::shared_ptr<Communicator> comm)
    : options_(options), comm_(std::move(comm)) {}

Zero3Parameters::~Zero3Parameters() {
  // Buffers must outlive the collectives writing into them.
  for (auto& [unit, gather] : in_flight_) {
    for (GatherGroup& group : gather->groups) {
      if (group.work != nullptr) (void)group.work->Wait(Deadline());
    }
  }
}

std::vector<int> Zero3Parameters::TrainableIds() const {
  std::vector<int> ids;
  for (int i = 0; i < num_params(); ++i) {
    if (params_[i].trainable) ids.push_back(i);
  }
  return ids;
}

bool Zero3Parameters::AccumulateGradient(int id, const at::Tensor& piece) {
  const Zero3Parameter& p = params_[id];
  if (!IsSixteenBit(p.dtype)) return false;
  at::NoGradGuard no_grad;
  at::Tensor& accumulator = grad_accumulators_[id];
  if (accumulator.defined()) {
    accumulator.add_(piece);  // bf16 / fp16 piece, fp32 sum
  } else {
    accumulator = piece.to(at::kFloat);
  }
  return true;
}

at::Tensor Zero3Parameters::GradientPartition(int id) const {
  const Zero3Parameter& p = params_[id];
  if (!p.trainable) return at::Tensor();
  return IsSixteenBit(p.dtype) ? grad_accumulators_[id] : p.partition.grad();
}

void Zero3Parameters::ZeroGradientPartitions() {
  for (int id = 0; id < num_params(); ++id) {
    if (!params_[id].trainable) continue;
    params_[id].partition.mutable_grad().reset();
    grad_accumulators_[id] = at::Tensor();
  }
}

int64_t Zero3Parameters::ResidentBytes(bool trainable) const {
  int64_t bytes = 0;
  for (const Zero3Parameter& p : params_) {
    if (p.trainable != trainable) continue;
    if (p.partition.defined()) bytes += p.partition.nbytes();
    if (p.full.defined()) bytes += p.full.nbytes();
  }
  return bytes;
}

int64_t Zero3Parameters::LargestUnitNumel() const {
  return unit_numel_.empty() ? 0 : *std::max_element(unit_numel_.begin(), unit_numel_.end());
}

void Zero3Parameters::Track(int64_t delta) {
  live_numel_ += delta;
  peak_numel_ = std::max(peak_numel_, live_numel_);
}

absl::StatusOr<std::unique_ptr<Zero3Parameters::Gather>> Zero3Parameters::StartCoalesced(
    int unit, std::vector<int> ids) {
  auto gather = std::make_unique<Gather>();
  gather->unit = unit;
  gather->ids = std::move(ids);
  const std::vector<std::vector<size_t>> groups = GroupByDtypeAndDevice(params_, gather->ids);
  const int world = comm_->Size();
  for (size_t g = 0; g < groups.size(); ++g) {
    GatherGroup& group = gather->groups.emplace_back();
    group.members = groups[g];
    for (size_t k : group.members) {
      const Zero3Parameter& p = params_[gather->ids[k]];
      group.offsets.push_back(group.chunk_numel);
      group.chunk_numel += p.partition_numel;
      gather->numel += p.numel;
    }
    const Zero3Parameter& first = params_[gather->ids[group.members[0]]];
    const at::TensorOptions options =
        first.partition.options().device(first.device).requires_grad(false);
    const at::Tensor flat = unit >= 0 && g < unit_flats_[unit].size() ? unit_flats_[unit][g]
                                                                       : at::Tensor();
    bool in_flat = flat.defined() && flat.numel() == group.chunk_numel;
    for (size_t m = 0; in_flat && m < group.members.size(); ++m) {
      in_flat = params_[gather->ids[group.members[m]]].partition.data_ptr() ==
                static_cast<char*>(flat.data_ptr()) + group.offsets[m] * flat.element_size();
    }
    if (group.members.size() == 1) {
      // Nothing to pack; the received [W * ps] is the parameter's gather buffer itself.
      // non_blocking: from pinned offloaded partitions the copy runs on the stream.
      group.send = first.partition.detach().to(first.device, /*non_blocking=*/true);
    } else if (in_flat) {
      group.send = flat.to(first.device, /*non_blocking=*/true);  // side by side already
    } else {
      group.send = at::empty({group.chunk_numel}, options);
      for (size_t m = 0; m < group.members.size(); ++m) {
        const Zero3Parameter& p = params_[gather->ids[group.members[m]]];
        group.send.narrow(0, group.offsets[m], p.partition_numel)
            .copy_(p.partition.detach(), /*non_blocking=*/true);
      }
    }
    group.received = EmptyOutsideHeap(world * group.chunk_numel, options);
    absl::StatusOr<std::unique_ptr<Work>> work = comm_->AllGather(group.send, group.received);
    if (!work.ok()) {
      (void)WaitCoalesced(*gather, /*copy_out=*/false);  // buffers outlive what is in flight
      return work.status();
    }
    group.work = std::move(*work);
  }
  return gather;
}

absl::Status Zero3Parameters::WaitCoalesced(Gather& gather, bool copy_out) {
  absl::Status status;
  for (GatherGroup& group : gather.groups) {
    // The gathered tensors are read on the current stream: on a device it waits for the op's
    // event and the host goes on (communicator.h WaitOnStream).
    if (group.work != nullptr) {
      status.Update(copy_out ? group.work->WaitOnStream(Deadline()) : group.work->Wait(Deadline()));
    }
    group.work.reset();
  }
  if (!status.ok() || !copy_out) {
    gather.groups.clear();
    if (status.ok()) return status;
    const std::string& name = params_[gather.ids[0]].names[0];
    return absl::Status(status.code(), absl::StrCat("all-gather of unit ", gather.unit, " (\"",
                                                    name, "\", ...): ", status.message()));
  }
  const int world = comm_->Size();
  gather.buffers.assign(gather.ids.size(), at::Tensor());
  for (GatherGroup& group : gather.groups) {
    group.send = at::Tensor();
    if (group.members.size() == 1) {
      gather.buffers[group.members[0]] = std::move(group.received);
      continue;
    }
    // Rank-major [W, Σ ps] -> each parameter's own [W * ps] (its full tensor, then padding).
    const at::Tensor by_rank = group.received.view({world, group.chunk_numel});
    for (size_t m = 0; m < group.members.size(); ++m) {
      const int64_t ps = params_[gather.ids[group.members[m]]].partition_numel;
      at::Tensor buffer = EmptyOutsideHeap(world * ps, group.received.options());
      buffer.view({world, ps}).copy_(by_rank.narrow(1, group.offsets[m], ps));
      gather.buffers[group.members[m]] = std::move(buffer);
    }
    group.received = at::Tensor();  // the unit is held once again
  }
  gather.groups.clear();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Zero3Parameters::Gather>> Zero3Parameters::StartGather(int unit) {
  std::vector<int> ids;
  for (int id : units_[unit]) {
    if (!params_[id].persistent) ids.push_back(id);
  }
  ZT_ASSIGN_OR_RETURN(std::unique_ptr<Gather> gather, StartCoalesced(unit, std::move(ids)));
  in_flight_numel_ += gather->numel;
  Track(gather->numel);
  return gather;
}

absl::Status Zero3Parameters::WaitGather(Gather& gather, bool copy_out) {
  in_flight_numel_ -= gather.numel;
  return WaitCoalesced(gather, copy_out);
}

void Zero3Parameters::Prefetch(int unit, int direction) {
  for (int u = unit + direction; u >= 0 && u < num_units(); u += direction) {
    if (unit_numel_[u] == 0 || in_flight_.count(u) > 0) continue;
    if (in_flight_numel_ + unit_numel_[u] > options_.prefetch_bucket_numel ||
        live_numel_ + unit_numel_[u] > options_.max_live_numel) {
      return;
    }
    absl::StatusOr<std::unique_ptr<Gather>> gather = StartGather(u);
    if (!gather.ok()) return;  // the unit's own Fetch reports it
    in_flight_[u] = std::move(*gather);
  }
}

std::vector<at::Tensor> Zero3Parameters::TrainableInputs(int unit) {
  TORCH_CHECK(unit >= 0 && unit < num_units(), "zero3: unit ", unit, " out of range [0, ",
              num_units(), ")");
  std::vector<at::Tensor> out;
  for (int id : units_[unit]) {
    if (params_[id].trainable) out.push_back(params_[id].partition);
  }
  return out;
}

std::vector<at::Tensor> Zero3Parameters::Fetch(int unit,
                                               const std::vector<at::Tensor>& trainable_inputs) {
  TORCH_CHECK(unit >= 0 && unit < num_units(), "zero3: unit ", unit, " out of range [0, ",
              num_units(), ")");
  const int direction = last_unit_ >= 0 && unit < last_unit_ ? -1 : 1;
  last_unit_ = unit;
  fetch_hash_ = fetch_hash_ * 1000003u + static_cast<uint64_t>(unit) + 1u;
  ++fetch_count_;
  std::unique_ptr<Gather> gather;
  auto it = in_flight_.find(unit);
  if (it != in_flight_.end()) {
    gather = std::move(it->second);
    in_flight_.erase(it);
  } else {
    absl::StatusOr<std::unique_ptr<Gather>> started = StartGather(unit);
    ThrowIfZero3Error(started.status());
    gather = std::move(*started);
  }
  ThrowIfZero3Error(WaitGather(*gather, /*copy_out=*/true));
  fetched_numel_[unit] += gather->numel;
  Prefetch(unit, direction);
  Parked& last = last_fetch_[unit];
  last = Parked();
  last.unit = unit;
  last.ids = gather->ids;
  last.buffers = gather->buffers;
  last.numel = gather->numel;

  std::vector<at::Tensor> out;
  std::vector<size_t> trainable_slots;  // positions in `out`
  std::vector<int64_t> trainable_ids;
  std::vector<at::Tensor> trainable_full;
  size_t gathered = 0;
  for (size_t j = 0; j < units_[unit].size(); ++j) {
    const int id = units_[unit][j];
    const Zero3Parameter& p = params_[id];
    at::Tensor full = p.persistent
                          ? p.full
                          : gather->buffers[gathered++].narrow(0, 0, p.numel).view(p.shape);
    if (p.trainable) {
      trainable_slots.push_back(out.size());
      trainable_ids.push_back(id);
      // A persistent tensor is handed out as a copy: autograd must not own the resident one.
      trainable_full.push_back(p.persistent ? full.clone() : full);
    }
    out.push_back(full);
  }
  if (trainable_ids.empty()) return out;
  TORCH_CHECK(trainable_inputs.size() == trainable_ids.size(), "zero3: unit ", unit, " got ",
              trainable_inputs.size(), " trainable inputs, expected ", trainable_ids.size());
  const std::vector<at::Tensor> outputs =
      GatherUnitTrainable(this, trainable_inputs, trainable_ids, trainable_full);
  for (size_t k = 0; k < trainable_slots.size(); ++k) out[trainable_slots[k]] = outputs[k];
  return out;
}

void Zero3Parameters::Release(int unit) {
  last_fetch_.erase(unit);
  auto it = fetched_numel_.find(unit);
  if (it == fetched_numel_.end()) return;
  Track(-it->second);
  fetched_numel_.erase(it);
  auto token = open_token_.find(unit);
  if (token == open_token_.end()) return;
  auto parked = parked_.find(token->second);
  open_token_.erase(token);
  if (parked != parked_.end() && parked->second.resident) {
    for (const at::Tensor& buffer : parked->second.buffers) FreeStorage(buffer);
    parked->second.resident = false;  // already untracked above
  }
}

at::Tensor Zero3Parameters::UnitInput(int unit, const at::Tensor& input) {
  if (!torch::autograd::GradMode::is_enabled() || !input.requires_grad()) return input;
  const int64_t token = next_token_++;
  open_token_[unit] = token;
  return FreeAfterBackward(input, this, token);
}

at::Tensor Zero3Parameters::UnitOutput(int unit, const at::Tensor& output) {
  auto last = last_fetch_.find(unit);
  if (!torch::autograd::GradMode::is_enabled() || !output.requires_grad() ||
      last == last_fetch_.end() || last->second.buffers.empty()) {
    return output;
  }
  auto open = open_token_.find(unit);
  const int64_t token = open != open_token_.end() ? open->second : next_token_++;
  open_token_[unit] = token;
  parked_[token] = std::move(last->second);
  last_fetch_.erase(last);
  return RegatherBeforeBackward(output, this, token);
}

void Zero3Parameters::RegatherParked(int64_t token) {
  auto it = parked_.find(token);
  if (it == parked_.end() || it->second.resident) return;
  Parked& parked = it->second;
  // One coalesced all-gather per (dtype, device) group, as the unit's Fetch did; the gathered
  // memory moves into the buffers autograd's saved views share.
  absl::StatusOr<std::unique_ptr<Gather>> gather = StartCoalesced(parked.unit, parked.ids);
  ThrowIfZero3Error(gather.status());
  const absl::Status waited = WaitCoalesced(**gather, /*copy_out=*/true);
  ThrowIfZero3Error(waited.ok() ? waited
                           : absl::Status(waited.code(),
                                          absl::StrCat("backward ", waited.message())));
  for (size_t j = 0; j < parked.ids.size(); ++j) {
    AdoptStorage(parked.buffers[j], (*gather)->buffers[j]);
  }
  parked.resident = true;
  Track(parked.numel);
}

void Zero3Parameters::FreeParked(int64_t token, bool forget) {
  auto it = parked_.find(token);
  if (it == parked_.end()) return;
  if (it->second.resident) {
    for (const at::Tensor& buffer : it->second.buffers) FreeStorage(buffer);
    it->second.resident = false;
    Track(-it->second.numel);
  }
  if (forget) parked_.erase(it);
}

absl::Status Zero3Parameters::PartitionsUpdated() {
  absl::Status status;
  for (auto& [unit, gather] : in_flight_) {
    status.Update(WaitGather(*gather, /*copy_out=*/false));  // stale: dropped
    Track(-gather->numel);
  }
  in_flight_.clear();
  for (auto& [unit, numel] : fetched_numel_) Track(-numel);
  fetched_numel_.clear();
  last_fetch_.clear();
  open_token_.clear();
  // Units whose backward never left through an input that needs grad (the first layer of a
  // LoRA model): their storage is freed here.
  while (!parked_.empty()) FreeParked(parked_.begin()->first, /*forget=*/true);
  last_unit_ = -1;
  ZT_RETURN_IF_ERROR(status);
  if (options_.verify_lockstep && comm_->Size() > 1) {
    // max(h) and max(-h) = -min(h) over ranks in one all-reduce; 62 bits so -h cannot overflow.
    const int64_t h = static_cast<int64_t>(fetch_hash_ & ((uint64_t{1} << 62) - 1));
    at::Tensor both = at::tensor({h, -h}, at::TensorOptions().dtype(at::kLong))
                          .to(params_.empty() ? at::Device(at::kCPU) : params_[0].device);
    ZT_ASSIGN_OR_RETURN(std::unique_ptr<Work> work, comm_->AllReduce(both, ReduceOp::kMax));
    ZT_RETURN_IF_ERROR(work->Wait(Deadline()));
    both = both.cpu();
    const int64_t fetches = fetch_count_;
    fetch_hash_ = 0;  // the next window is checked afresh either way
    fetch_count_ = 0;
    if (both[0].item<int64_t>() != -both[1].item<int64_t>()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "zero3: ranks fetched different unit sequences since the last step (rank ",
          comm_->Rank(), ": ", fetches, " fetches); every rank must run the same modules in "
          "the same order, or its gathers mix different parameters"));
    }
  }
  fetch_hash_ = 0;
  fetch_count_ = 0;
  for (int id = 0; id < num_params(); ++id) {
    Zero3Parameter& p = params_[id];
    if (!p.persistent || !p.trainable) continue;
    ZT_ASSIGN_OR_RETURN(at::Tensor full, GatherFull(id));
    p.full = full;
  }
  return absl::OkStatus();
}

absl::StatusOr<at::Tensor> Zero3Parameters::GatherFull(int id) {
  if (id < 0 || id >= num_params()) {
    return absl::OutOfRangeError(absl::StrCat("zero3: parameter ", id, " out of range [0, ",
                                              num_params(), ")"));
  }
  const Zero3Parameter& p = params_[id];
  if (!p.partition.defined()) return p.full.clone();
  at::Tensor buffer = at::empty({comm_->Size() * p.partition_numel},
                                p.partition.options().device(p.device).requires_grad(false));
  ZT_ASSIGN_OR_RETURN(std::unique_ptr<Work> work,
                      comm_->AllGather(p.partition.detach().to(p.device), buffer));
  absl::Status waited = work->Wait(Deadline());
  if (!waited.ok()) {
    return absl::Status(waited.code(), absl::StrCat("all-gather of \"", p.names[0],
                                                    "\": ", waited.message()));
  }
  return buffer.narrow(0, 0, p.numel).view(p.shape).clone();
}

absl::StatusOr<std::vector<std::pair<std::string, at::Tensor>>>
Zero3Parameters::GatherNamedTensors(bool trainable_only) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (int id = 0; id < num_params(); ++id) {
    if (trainable_only && !params_[id].trainable) continue;
    ZT_ASSIGN_OR_RETURN(at::Tensor full, GatherFull(id));
    for (const std::string& name : params_[id].names) out.emplace_back(name, full);
  }
  return out;
}

}  // namespace zt::sharding
