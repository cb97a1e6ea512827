// What the training loop and the checkpointer drive, whatever the ZeRO stage: the stage 0-2
// engine (zero_engine.h) and the stage-3 optimizer (zero3_optimizer.h) both implement it.
//
// The caller owns the accumulation window; the engine keeps no micro-step counter. Per
// optimizer step, on every rank in the same order, for the window's n micro-batches (n may
// differ between steps: the last window of an epoch can be short):
//   for (m = 0; m < n; ++m) ZT_RETURN_IF_ERROR(engine.Backward(loss_m, /*last=*/m + 1 == n));
//   ZT_ASSIGN_OR_RETURN(StepResult r, engine.Step());  // always an optimizer step (or a skip)
// The gradients the step uses are the mean over ranks of the sum over the window of
// d(loss_m)/d(theta): the caller normalises each loss (per target token, or 1 / n for
// DeepSpeed's per-micro-batch mean); the engine only multiplies it by the fp16 loss scale and
// divides the unscaled gradients out again (step_control.h). Stage 0 and 1 reduce gradients in
// the backward of the last micro-batch, stages 2 and 3 in every backward.
// Step() before a window's last micro-batch, and Backward after it before Step(), are
// FailedPrecondition.
//
// Checkpoint state. sharding/ knows no files: the checkpoint format (per-parameter "universal"
// slices, docs/checkpoints.md) is worker/train/'s. What a checkpoint needs to continue bitwise:
// per trainable parameter, the fp32 (fp64 for fp64 parameters) master and both Adam moments
// (each rank holds pieces of some parameters: StateSlices / PartitionPieces), the step counters
// and the loss scaler (StateCounters). The parameters themselves are the master rounded to the
// parameter dtype and are rebuilt from it; the learning rate of step k comes from the stateless
// schedule. Export and import run only between windows (after Step(), before the next
// Backward; FailedPrecondition otherwise), on every rank in the same order. Since every piece is
// named by (parameter, offset, numel), a state saved under one stage or world size restores
// under another.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sharding/optim/loss_scaler.h"
#include "sharding/optim/step_control.h"
#include "sharding/zero/partition.h"

namespace zt::sharding {


class TrainingEngine {
 public:
  struct StateGroupLayout {
    std::vector<std::string> names;  // forward order
    std::vector<std::vector<int64_t>> shapes;
    at::ScalarType param_dtype = at::kFloat;
    at::ScalarType master_dtype = at::kFloat;
    double weight_decay = 0.0;
    // Stages 0-2: the flat layout (world_size: the ranks the partitions are cut for, 1 at
    // stage 0). Stage 3 cuts every parameter on its own (bucket_numel 0).
    FlatLayoutOptions layout;
    int64_t flat_numel = 0;
    int64_t partition_numel = 0;
  };
  struct StateSlice {
    int group = 0;
    int param = 0;  // index inside the group (forward order)
    std::string name;
    int64_t offset = 0;  // first element inside the flattened parameter
    int64_t numel = 0;
    // 1-D views of `numel` elements into this rank's optimizer state (the engine's device, or
    // the host under offload): writing them writes the engine's state.
    at::Tensor master, exp_avg, exp_avg_sq;
  };
  struct StateCounters {
    int stage = 0;
    int world_size = 1;
    int partition_world = 1;  // 1 at stage 0: every rank holds the whole state
    int partition_rank = 0;   // which partition this rank holds (0 at stage 0)
    int64_t applied_steps = 0;  // also Adam's step count and the schedule position
    int64_t skipped_steps = 0;
    LossScalerState loss_scaler;
  };
  using StateSliceFill = std::function<absl::Status(const StateSlice& slice)>;

  virtual ~TrainingEngine() = default;

  // One micro-batch's backward of `loss` (multiplied by the fp16 loss scale); `last_micro_batch`
  // closes the window. A failed collective inside backward comes back as a status.
  virtual absl::Status Backward(const at::Tensor& loss, bool last_micro_batch) = 0;
  // The optimizer step of the closed window: clipping, overflow skip, AdamW, the parameters
  // updated on every rank (stage 3: their partitions).
  virtual absl::StatusOr<StepResult> Step() = 0;
  virtual int stage() const = 0;
  virtual bool offloads_optimizer() const = 0;
  virtual std::string OptimizerName() const = 0;

  virtual std::vector<StateGroupLayout> StateLayout() const = 0;
  // The pieces of group `group`'s parameters that partition `partition_rank` holds (any rank's,
  // not only this one's: the checkpoint manifest lists all).
  virtual std::vector<ParamPiece> PartitionPieces(int group, int partition_rank) const = 0;
  virtual StateCounters StateCountersNow() const = 0;
  // This rank's piece of every trainable parameter, group by group, in partition order.
  virtual absl::StatusOr<std::vector<StateSlice>> StateSlices() = 0;
  // Restores a saved state, possibly cut for another partition world or stage: zeroes this
  // rank's partitions (padding stays zero), calls `fill` for every slice of the current layout
  // (it writes the saved values of elements [offset, offset + numel) of the parameter into
  // slice.master / exp_avg / exp_avg_sq), rebuilds the parameters from the master, clears
  // gradients, and takes the counters' steps and loss scaler (stage and world sizes in
  // `counters` are the saved ones, for the caller's checks). Collective.
  virtual absl::Status ImportState(const StateCounters& counters, const StateSliceFill& fill) = 0;
};

}  // namespace zt::sharding
