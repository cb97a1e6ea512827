// ZeRO stage 3 parameter partitioning (docs/training.md, "Stage 3"): every tensor of a model,
// trainable or frozen, of any storage dtype (floating point, or opaque bytes such as packed
// 4-bit weights), is cut into W = comm->Size() pieces of ps = ceil(n / W) elements (rounded up
// to the slot's Zero3SlotLayout::alignment); rank r keeps
// elements [r * ps, min((r + 1) * ps, n)) in a 1-D partition of ps elements (the last rank's tail
// is zero padding). The model's own tensors become empty placeholders ([0], same dtype), so
// between units a rank holds only its partitions. Tensors with
// numel <= persistence_threshold stay whole on every rank (stage3_param_persistence_threshold);
// trainable persistent tensors keep a partition too (gradients and optimizer state are
// partitioned as for every other one). Slots aliasing one tensor (tied embeddings) are one
// parameter with one partition, used by every unit that names any of its slots.
//
// The model runs in units (a decoder: embedding, layers, final norm, lm_head) whose tensor names
// the caller gives in forward order. Fetch(unit) all-gathers the unit's tensors (waiting for a
// prefetch already in flight) coalesced, as DeepSpeed does (docs/training.md): the partitions of
// each (dtype, device) group of the unit's non-persistent tensors lie side by side in one flat
// buffer (the first unit naming them; otherwise they are packed at gather time) and are gathered
// by ONE all-gather into [W * Σ ps] (one per unit for a single-dtype model); each tensor's full
// value is then copied out into its own buffer and the gathered one dropped (a group of one
// tensor gathers straight into its buffer). Fetch then starts the gathers of the following units
// in the direction of the last two fetches (forward: next units; activation recompute in
// backward: previous ones) while the elements in flight stay <= prefetch_bucket_numel and
// gathered + in flight stay <= max_live_numel (stage3_prefetch_bucket_size,
// stage3_max_live_parameters); Release(unit) drops the gathered tensors (and, for units run
// without checkpointing, frees the storage autograd saved until backward gathers it again, with
// one coalesced all-gather as well: UnitInput / UnitOutput).
//
// Gradients: the gathered values of a unit's trainable tensors are the outputs of one autograd
// function of their partitions (leaves requiring grad). Its backward, once all their gradients are
// in, reduce-scatters them together, one collective per (dtype, device) group (DeepSpeed's
// reduce_scatter_coalesced: each gradient zero-padded to W * ps and divided by W, rank r's chunks
// of all of them side by side; in the parameters' dtype), and this rank's piece of each rank-
// averaged gradient is added, every micro-step, into the parameter's gradient partition
// (GradientPartition; stage 2 semantics, no rank keeps a full gradient), kept in DeepSpeed's
// grad_accum_dtype: fp32 for bf16 / fp16 parameters (partition.grad stays undefined),
// partition.grad itself for fp32 / fp64 ones. A tensor used by two units (tied embeddings) gets one
// piece per use.
//
// Collectives: every rank must fetch the same units in the same order (docs/training.md); a failed
// or timed-out collective throws c10::Error naming the parameter (the decoder's forward has no
// status); PartitionsUpdated verifies the order across ranks (verify_lockstep). CPU (Gloo) and
// device communicators alike; the partitions live where the model's tensors were, or on the host
// with offload_param. Not thread-safe. The communicator must outlive this object.
#pragma once

#include <ATen/core/Tensor.h>

#include <limits>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "configs/ds_config.h"
#include "sharding/collectives/communicator.h"
#include "sharding/zero/parameter_hook.h"

namespace zt::sharding {

// How one tensor is partitioned, beyond the default ceil(n / W) elements in its (or
// floating_dtype's) dtype.
struct Zero3SlotLayout {
  // partition_numel is rounded up to a multiple of this (elements): a packed 4-bit weight's
  // pieces hold whole quantization blocks (blocksize / 2 bytes each), so rank r's bytes and its
  // absmax entries [r * ceil(blocks / W), ...) describe the same blocks.
  int64_t alignment = 1;
  // Never cast to floating_dtype (quantization constants stay fp32).
  bool keep_dtype = false;
};

struct Zero3ParameterOptions {
  int64_t persistence_threshold = 0;          // stage3_param_persistence_threshold
  // stage3_model_persistence_threshold: persistent tensors, in slot order, while their total
  // stays within it.
  int64_t model_persistence_numel = std::numeric_limits<int64_t>::max();
  // When set, floating-point tensors are kept (partitions, persistent copies, placeholders) and
  // gathered in this dtype, cast piece by piece while partitioning: a model loaded in its
  // file's dtype (mapped, not copied) never exists whole in the compute dtype on any rank.
  std::optional<at::ScalarType> floating_dtype;
  // When set, the device the model computes on (gathers land there, and the partitions too
  // unless offload_param): a model mapped on the host is cut straight onto it, never moved
  // whole. Unset: each tensor's own device.
  std::optional<at::Device> device;
  int64_t prefetch_bucket_numel = 50000000;   // stage3_prefetch_bucket_size
  int64_t max_live_numel = 1000000000;        // stage3_max_live_parameters
  absl::Duration collective_timeout = absl::Minutes(5);
  // offload_param.device = "cpu": partitions live on the host between uses; gathers copy them
  // to the tensors' device first, gradients come back to the host (a no-op for CPU models).
  bool offload_param = false;
  // offload_param.pin_memory: the offloaded partitions of a CUDA model are page-locked.
  bool pin_memory = true;
  // PartitionsUpdated checks that every rank fetched the same units in the same order since the
  // last check (one all-reduce of a sequence hash; docs/training.md): a rank that diverged
  // gets garbage or hangs in a later gather, this turns the first case into an error.
  bool verify_lockstep = true;
  // Per slot name (any of a tensor's slots): how its partitions are cut. Packed 4-bit weights
  // are cut at whole quantization blocks and their constants keep fp32 (decoder_partition.h).
  std::map<std::string, Zero3SlotLayout> slot_layouts;
};

// The options a resolved ds_config asks for (zero_optimization.stage3_* and offload_param).
Zero3ParameterOptions Zero3ParameterOptionsFromDsConfig(const configs::DsConfig& config);

struct Zero3Parameter {
  std::vector<std::string> names;  // the slots it was found under (tied: two)
  std::vector<int64_t> shape;
  at::ScalarType dtype = at::kFloat;
  int64_t numel = 0;
  int64_t partition_numel = 0;  // ceil(numel / W)
  bool persistent = false;
  bool trainable = false;
  // [partition_numel], a leaf requiring grad when trainable; undefined for a frozen persistent
  // parameter (it keeps only `full`).
  at::Tensor partition;
  at::Tensor full;  // persistent only: the whole tensor, every rank
  at::Device device = at::kCPU;  // where the model used it (the gathers' device)
};

class Zero3Parameters final : public ParameterHook {
 public:
  // `slots`: every tensor slot of the model (name, pointer; aliases of one tensor allowed),
  // trainable ones requiring grad. `units`: the slot names each unit reads, in the order Fetch
  // returns them. Partitions every tensor and replaces each slot by an empty placeholder.
  // InvalidArgument naming the slot for an undefined or empty tensor, a unit naming an unknown
  // slot, a trainable non-floating tensor or bad options.
  static absl::StatusOr<std::unique_ptr<Zero3Parameters>> Create(
      std::vector<std::pair<std::string, at::Tensor*>> slots,
      std::vector<std::vector<std::string>> units, const Zero3ParameterOptions& options,
      std::shared_ptr<Communicator> comm);
  ~Zero3Parameters() override;

  // ParameterHook.
  std::vector<at::Tensor> TrainableInputs(int unit) override;
  std::vector<at::Tensor> Fetch(int unit, const std::vector<at::Tensor>& trainable_inputs) override;
  void Release(int unit) override;
  // Under autograd without checkpointing: Release frees the storage of the unit's gathered
  // tensors (autograd's saved copies included: they share it), backward reaching the unit's
  // output all-gathers them again into the same storage, and backward leaving the unit's input
  // frees them again (DeepSpeed's memory-efficient linear in effect: no gathered weight stays
  // alive from forward to backward).
  at::Tensor UnitInput(int unit, const at::Tensor& input) override;
  at::Tensor UnitOutput(int unit, const at::Tensor& output) override;
  // Backward's side of the above (called by the autograd nodes; throw on a failed collective).
  // `token`: one forward's use of a unit (several forwards may precede one backward).
  void RegatherParked(int64_t token);
  void FreeParked(int64_t token, bool forget);
  // Backward's side of a unit's gather: adds this rank's reduce-scattered `piece` of parameter
  // `id` ([partition_numel], the parameter's dtype) into the fp32 gradient partition of a 16-bit
  // parameter and returns true; false for fp32 / fp64 ones (autograd then adds it into
  // partition.grad).
  bool AccumulateGradient(int id, const at::Tensor& piece);

  // This rank's piece of the rank-averaged gradient of trainable parameter `id`, summed over
  // the micro-steps since ZeroGradientPartitions ([partition_numel]; where the partition lives).
  // Accumulated in DeepSpeed's grad_accum_dtype: fp32 for bf16 / fp16 parameters (a separate
  // buffer: partition.grad stays undefined), the parameter's dtype for fp32 / fp64 (then it is
  // partition.grad). Undefined before any backward reached the parameter, and for frozen ones.
  at::Tensor GradientPartition(int id) const;
  // Drops every gradient partition (the optimizer, after its step or a skipped one).
  void ZeroGradientPartitions();

  int num_params() const { return static_cast<int>(params_.size()); }
  int num_units() const { return static_cast<int>(units_.size()); }
  const Zero3Parameter& param(int id) const { return params_[id]; }
  const std::vector<Zero3Parameter>& params() const { return params_; }
  Zero3Parameter& mutable_param(int id) { return params_[id]; }
  // The trainable parameters' ids, in first-use order.
  std::vector<int> TrainableIds() const;
  Communicator& comm() const { return *comm_; }
  absl::Time Deadline() const { return absl::Now() + options_.collective_timeout; }

  // Bytes this rank keeps between units (partitions with padding, persistent full tensors),
  // of the frozen / trainable parameters. Gathered tensors are not counted.
  int64_t ResidentBytes(bool trainable) const;
  // Elements of gathered (non-persistent) tensors this object holds now (fetched and not
  // released, plus prefetches in flight), and the most since ResetPeak.
  int64_t LiveGatheredNumel() const { return live_numel_; }
  int64_t PeakGatheredNumel() const { return peak_numel_; }
  void ResetPeak() { peak_numel_ = live_numel_; }
  // Gathered elements of the largest unit.
  int64_t LargestUnitNumel() const;

  // After the optimizer changed partitions: waits for and drops every prefetch in flight and
  // every gathered tensor still held, and re-gathers the persistent tensors. Collective.
  // FailedPrecondition (with verify_lockstep) when ranks fetched different unit sequences.
  absl::Status PartitionsUpdated();
  // The whole tensor of parameter `id` (all-gathered, not tracked), e.g. for saving
  // (stage3_gather_16bit_weights_on_model_save). Collective.
  absl::StatusOr<at::Tensor> GatherFull(int id);
  // Every parameter's whole tensor under each of its slot names (tied: both), or only the
  // trainable ones (an adapter-only export, as PEFT + ZeRO-3 saves gather the adapter). Collective: every rank gets
  // the full tensors; saving stays the caller's (rank 0's) business.
  absl::StatusOr<std::vector<std::pair<std::string, at::Tensor>>> GatherNamedTensors(
      bool trainable_only);

 private:
  struct GatherGroup;  // one coalesced all-gather of a (dtype, device) group
  struct Gather;       // one unit's coalesced all-gathers in flight
  Zero3Parameters(Zero3ParameterOptions options, std::shared_ptr<Communicator> comm);

  // Starts one all-gather per (dtype, device) group of `ids` (non-persistent; in order of
  // first appearance, hence the same on every rank). `unit` only names it in errors.
  absl::StatusOr<std::unique_ptr<Gather>> StartCoalesced(int unit, std::vector<int> ids);
  // Waits; with `copy_out` copies each parameter's [W * ps] out of its group's gathered buffer
  // into gather.buffers and drops the gathered buffer.
  absl::Status WaitCoalesced(Gather& gather, bool copy_out);
  // StartCoalesced / WaitCoalesced of a unit's Fetch or prefetch, tracking the live elements.
  absl::StatusOr<std::unique_ptr<Gather>> StartGather(int unit);
  absl::Status WaitGather(Gather& gather, bool copy_out);
  void Prefetch(int unit, int direction);
  void Track(int64_t delta);

  Zero3ParameterOptions options_;
  std::shared_ptr<Communicator> comm_;
  std::vector<Zero3Parameter> params_;
  std::vector<std::vector<int>> units_;   // param ids per unit
  std::vector<int64_t> unit_numel_;       // gathered elements per unit (non-persistent)
  std::map<int, std::unique_ptr<Gather>> in_flight_;
  std::vector<at::Tensor> grad_accumulators_;  // per parameter: 16-bit trainable ones only
  // Per unit, per (dtype, device) group of StartGather: the flat buffer its partitions are
  // views of, or undefined (one tensor, or one placed by an earlier unit).
  std::vector<std::vector<at::Tensor>> unit_flats_;
  struct Parked {
    int unit = -1;
    std::vector<int> ids;             // non-persistent parameters of the unit
    std::vector<at::Tensor> buffers;  // their gather buffers ([W * ps], storage freed or held)
    int64_t numel = 0;
    bool resident = true;
  };
  std::map<int, Parked> last_fetch_;  // the latest Fetch of each unit
  std::map<int64_t, Parked> parked_;  // by token: units whose gathered storage autograd shares
  std::map<int, int64_t> open_token_;  // unit -> token of its running forward (UnitInput/Output)
  int64_t next_token_ = 0;
  std::map<int, int64_t> fetched_numel_;  // gathered elements per fetched, unreleased unit
  int64_t live_numel_ = 0;
  int64_t in_flight_numel_ = 0;
  int64_t peak_numel_ = 0;
  int last_unit_ = -1;
  uint64_t fetch_hash_ = 0;  // the units fetched since the last lockstep check
  int64_t fetch_count_ = 0;
};

}  // namespace zt::sharding
