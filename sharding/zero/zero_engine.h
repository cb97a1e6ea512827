// The ZeRO engine for stages 0, 1 and 2 over the trainable parameters (docs/training.md):
// LoRA adapters, or every parameter for full fine-tuning. Frozen parameters are not its
// business (they stay replicated).
//
// Per parameter group (all of one dtype; groups carry their own weight decay, like the HF
// Trainer's decay / no-decay groups): one flat buffer whose views become the parameters
// (flat_buffer.h), laid out in buckets of reduce_bucket_size elements with equal per-rank
// chunks (partition.h); a gradient accumulator; an optimizer partition (fp32 master + moments,
// optimizer_offload.h, on the device or offloaded to the host).
//
//   stage 0: accumulator and optimizer state cover the whole flat buffer; gradients are
//            all-reduced (bucket by bucket) at the accumulation boundary; no all-gather.
//   stage 1: the accumulator and optimizer state are this rank's partition; gradients
//            accumulate in param.grad between boundaries and are reduce-scattered bucket by
//            bucket during the boundary backward; updated chunks are all-gathered.
//   stage 2: as stage 1, but every micro-step's gradients are reduce-scattered during backward
//            and accumulated in the partition: no rank holds a full gradient.
// The caller runs the accumulation window (training_engine.h): it says which backward is the
// window's last and normalises the losses itself. Gradients are averaged over ranks (divided by
// the world size before the reduction, as DeepSpeed), the loss is multiplied by the fp16 loss
// scale before backward, the global norm is summed in fp64 across partitions and ranks, and
// step_control.h decides the rest: clipping and unscaling as one multiplier, fp16 and bf16 (with
// check_grad_overflow) skipping steps whose gradients overflowed on any rank, the learning rate
// of the k-th applied step from the schedule (lr_scheduler.h).
//
// Where this deliberately differs from DeepSpeed (same results up to summation order):
//  - stage 2 reduce-scatters each bucket (DeepSpeed all-reduces it and keeps its own slice),
//    with buckets laid out so each is one reduce-scatter (partition.h); with a single bucket
//    the layout is DeepSpeed's;
//  - stage 0/1 reduce bucket by bucket from the hooks of the boundary backward;
//  - unscaling divides by the scale the gradients were computed with; DeepSpeed's ZeRO divides
//    by the scale after update_scale, which differs on the step where the scale doubles.
// With offload, a bucket's reduced gradient chunk is copied to the host as soon as its
// reduction finished in the window's last backward; the CPU AdamW step, the copy back and the
// bucket's all-gather then run bucket by bucket in forward order inside Step(), or, with
// options.async_offload_step, on a worker thread after Step() returned (below). CUDA streams:
// the Communicator orders its work after the current stream (the NCCL/host-staged backends'
// contract); everything here is issued on the current stream.
//
// Use, on every rank in the same order (training_engine.h):
//   for each micro-batch m of n: ZT_RETURN_IF_ERROR(engine->Backward(loss_m, m + 1 == n));
//   ZT_ASSIGN_OR_RETURN(StepResult r, engine->Step());
// A caller that runs backward itself (several passes per micro-batch, reentrant checkpointing)
// brackets it: BeginBackward(last); ScaleLoss(loss).backward(); ...; FinishBackward().
//
// Asynchronous offload step (options.async_offload_step, offload only; a ds_config turns it on
// with offload_optimizer.device "cpu" and overlap_comm, ZeroEngineOptionsFromDsConfig): Step()
// does the overflow check, the norm and the loss-scale update, copies every gradient chunk not
// yet staged, then hands the per-bucket work (CPU AdamW on the host partition, the H2D copy, the
// bucket's all-gather) to a worker thread (bucket_update_worker.h) in update order and returns.
// Update order (update_order.h) is forward order across all groups (a bucket's place is its
// earliest parameter's forward position, ParameterGroup::forward_positions; groups one after
// another without them). The next forward
// calls WaitForParameters(update bucket or parameter name) before it reads a layer's
// parameters, so layer i waits only for the buckets up to its own; WaitForAllParameters() waits
// for the rest and runs implicitly at the start of Backward/BeginBackward/Step, so nothing the
// engine does can observe a stale parameter (state export/import must call it first). The
// worker's first error is returned by the next Wait call (and every one after: the parameters
// are then undefined). Results are bitwise those of the synchronous path; the worker's phase
// times are reported in the next Step()'s StepResult.
//
// Not thread-safe: one training loop drives it (the async worker is internal). The
// communicator must outlive it.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sharding/collectives/communicator.h"
#include "sharding/optim/adamw_step.h"
#include "sharding/optim/lr_scheduler.h"
#include "sharding/optim/step_control.h"
#include "sharding/zero/bucket_update_worker.h"
#include "sharding/zero/gradient_bucketer.h"
#include "sharding/zero/optimizer_offload.h"
#include "sharding/zero/partition.h"
#include "sharding/zero/training_engine.h"
#include "sharding/zero/update_order.h"
#include "sharding/zero/zero_engine_options.h"

namespace zt::sharding {

struct NamedParameter {
  std::string name;
  at::Tensor tensor;  // a leaf that requires grad
};

struct ParameterGroup {
  std::vector<NamedParameter> params;  // forward order
  std::optional<double> weight_decay;  // default: the optimizer's
  // Optional, one per parameter: its position in the model's forward order across all groups
  // (orders the asynchronous offload step's buckets). Empty: the group's own order.
  std::vector<int> forward_positions;
};

// The HF Trainer's decay / no-decay groups (parameter_groups.h) of `params` (forward order):
// the decay group with the optimizer's weight decay, then the no-decay group with 0, empty
// groups left out, forward_positions filled. What `zerotune estimate` lays out.
std::vector<ParameterGroup> DecayParameterGroups(const std::vector<NamedParameter>& params);

class ZeroEngine final : public TrainingEngine {
 public:
  static absl::StatusOr<std::unique_ptr<ZeroEngine>> Create(std::vector<ParameterGroup> groups,
                                                            const ZeroEngineOptions& options,
                                                            std::shared_ptr<Communicator> comm);
  ~ZeroEngine();

  double loss_scale() const { return control_.loss_scale(); }
  // loss * loss_scale (fp16; the loss itself otherwise).
  at::Tensor ScaleLoss(const at::Tensor& loss) const { return control_.ScaleLoss(loss); }

  absl::Status Backward(const at::Tensor& loss, bool last_micro_batch) override;
  // Stage 0/1 reduce only in the backward of the window's last micro-batch. A window-order
  // error is returned by FinishBackward.
  void BeginBackward(bool last_micro_batch);
  absl::Status FinishBackward();

  absl::StatusOr<StepResult> Step() override;
  int stage() const override { return options_.stage; }
  bool offloads_optimizer() const override { return options_.offload.offload; }

  // Gradient bytes held at most (accumulators + staging + param.grad) since the last reset,
  // sampled in every gradient hook (options.track_gradient_bytes).
  int64_t PeakGradientBytes() const;
  void ResetPeakGradientBytes();
  // What this rank allocated: elements of its partitions (all groups) and bytes of optimizer
  // state (master + moments + master-dtype gradient), gradient accumulators and staging.
  int64_t PartitionNumel() const;
  int64_t OptimizerStateBytes() const;
  int64_t GradientAccumulatorBytes() const;
  // Bytes of the flat parameter buffers (trainable parameters with padding, all groups) and of
  // the stage 1-2 buffers holding this rank's updated chunks before the all-gather.
  int64_t ParameterBufferBytes() const;
  int64_t UpdateBufferBytes() const;

  // The buckets of all groups in update order (see above); index u names the u-th.
  int NumUpdateBuckets() const { return static_cast<int>(update_order_.size()); }
  // The update bucket holding the named parameter; NotFound naming it otherwise.
  absl::StatusOr<int> UpdateBucketOf(absl::string_view param_name) const;
  // Blocks until update bucket `u` (and every one before it) holds the parameters of the last
  // Step(); returns at once without an asynchronous step in flight. The worker's error if it
  // failed; OutOfRange for a bad `u`.
  absl::Status WaitForParameters(int update_bucket);
  absl::Status WaitForParameters(absl::string_view param_name);
  absl::Status WaitForAllParameters();
  // Per update bucket, for tests of the ordering: optimizer steps whose update of the bucket
  // finished, and the engine-wide sequence number (1, 2, ...) of its last finished update.
  int64_t BucketUpdates(int update_bucket) const;
  int64_t BucketUpdateSequence(int update_bucket) const;
  // Optimizer steps the asynchronous offload step's worker finished (0 on the synchronous path).
  int64_t AsyncSteps() const;
  const LossScaler& loss_scaler() const { return control_.loss_scaler(); }
  int64_t skipped_steps() const { return control_.skipped_steps(); }
  std::string OptimizerName() const override;

  // ---- Checkpoint state (training_engine.h) ------------------------------------------------
  // Both directions first wait for an asynchronous offload step still in flight
  // (WaitForAllParameters). Each rank holds one contiguous piece of a parameter, or none, in its
  // partition; the parameters are all-gathered after an import at stages 1-2.
  std::vector<StateGroupLayout> StateLayout() const override;
  std::vector<ParamPiece> PartitionPieces(int group, int partition_rank) const override;
  StateCounters StateCountersNow() const override;
  // This rank's piece of every trainable parameter, group by group, in partition order.
  absl::StatusOr<std::vector<StateSlice>> StateSlices() override;
  absl::Status ImportState(const StateCounters& counters, const StateSliceFill& fill) override;
  // ---- end of checkpoint state -------------------------------------------------------------

 private:
  struct Group;
  ZeroEngine(ZeroEngineOptions options, std::shared_ptr<Communicator> comm);

  absl::Status InitGroup(ParameterGroup spec, Group& group);
  absl::StatusOr<bool> Overflowed();
  absl::StatusOr<double> ScaledGlobalNorm();
  // Zeroes the accumulators and forgets which chunks were staged (after a step or a skip).
  void ClearGradients();
  absl::Status StepGroup(int group_index, double multiplier, const AdamWHyper& hyper,
                         StepPhaseTimes& times);
  // Step()'s two endings once the step is decided: every group stepped here, or the gradient
  // chunks staged and the per-bucket work posted to the worker (bucket_update_worker.h).
  absl::Status StepSynchronously(const StepDecision& decision, StepResult& result);
  void PostAsynchronousStep(const StepDecision& decision, StepResult& result);
  // Update bucket u's chunk: AdamW, the copy back, its all-gather (handed back in flight).
  absl::Status UpdateBucketChunk(int update_bucket, double multiplier, const AdamWHyper& hyper,
                                 StepPhaseTimes& times, std::unique_ptr<Work>& gather);
  absl::Time Deadline() const;

  ZeroEngineOptions options_;
  std::shared_ptr<Communicator> comm_;
  int partition_world_ = 1;  // ranks the partitions are cut for (1 for stage 0)
  int chunk_rank_ = 0;       // which chunk of each bucket this rank owns
  std::vector<std::unique_ptr<Group>> groups_;
  StepControl control_;
  AccumulationWindow window_;
  bool in_backward_ = false;
  bool boundary_backward_ = false;  // the running backward is the window's last
  absl::Status pending_backward_error_;  // BeginBackward's wait failed
  UpdateOrder update_order_;
  // Runs the asynchronous step; also counts the synchronous path's bucket updates.
  std::unique_ptr<BucketUpdateWorker> worker_;
};

}  // namespace zt::sharding
