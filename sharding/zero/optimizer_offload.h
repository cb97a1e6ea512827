// Where a rank's optimizer partition lives and how one chunk of it steps: the fp32 master
// copy, Adam's moments and the master-dtype gradient, each partition_numel elements, either on
// the training device or, with offload_optimizer.device = "cpu" (docs/training.md), in
// host buffers (pinned when pin_memory and CUDA are present: common/torch_compat.h
// EmptyHostBuffer; pageable otherwise, logged once). Per bucket chunk: StageGradChunk copies
// the reduced gradient chunk into the master-dtype gradient buffer (D2H under offload; the
// engine does it as soon as the bucket's reduction finished in the boundary backward), then
// StepChunk applies the unscale-and-clip multiplier, runs AdamW (kernels/cpu_adamw for fp32
// host masters) and writes the updated parameters back in the parameter dtype (H2D under
// offload). The engine steps the buckets in forward order, so each bucket's all-gather can
// start while the next one steps.
//
// Master dtype: fp64 for fp64 parameters, fp32 otherwise. Not thread-safe.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Event.h>
#include <c10/core/Stream.h>

#include <map>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "sharding/optim/adamw_step.h"
#include "sharding/zero/partition.h"

namespace zt::sharding {

struct OffloadOptions {
  bool offload = false;    // offload_optimizer.device == "cpu"
  bool pin_memory = true;  // offload_optimizer.pin_memory
};

// Wall time per phase of the optimizer step, summed over chunks (seconds).
struct StepPhaseTimes {
  double grad_copy_s = 0;   // gradient chunk -> master-dtype buffer (D2H under offload)
  double optimizer_s = 0;   // AdamW
  double param_copy_s = 0;  // updated parameters -> device flat buffer (H2D under offload)
};

class OptimizerPartition {
 public:
  // `initial`: this rank's parameter partition (parameter dtype, on the device), copied into
  // the master; moments start at zero.
  OptimizerPartition(const at::Tensor& initial, const OffloadOptions& options);

  // Copies the reduced, loss-scaled gradient chunk (parameter dtype, device) into the
  // master-dtype gradient buffer at [offset, offset + numel) (D2H under offload). The engine
  // calls it as soon as a bucket's reduction finished in the boundary backward, so the copies
  // overlap the rest of backward, or else from Step().
  // With pinned buffers and a CUDA chunk the copy runs on a side stream and returns at once.
  void StageGradChunk(int64_t offset, const at::Tensor& grad_chunk, StepPhaseTimes& times);
  // Orders the device's current stream after every staged copy still in flight (no host wait):
  // call before the gradient chunks are written again (zeroed after a step).
  void FenceStagedCopies();

  // One chunk [offset, offset + param_chunk.numel()) whose gradient was staged: multiplies it by
  // `grad_multiplier` (1 / unscale-and-clip divisor), runs AdamW, and writes the updated
  // parameters into `param_chunk` (parameter dtype, device; H2D under offload, enqueued
  // non_blocking on the current stream from pinned buffers). Waits on the host only for this
  // chunk's staged copy and for its previous copy back.
  absl::Status StepChunk(int64_t offset, double grad_multiplier, const AdamWHyper& hyper,
                         at::Tensor param_chunk, StepPhaseTimes& times);

  const at::Tensor& master() const { return master_; }
  const at::Tensor& exp_avg() const { return exp_avg_; }
  const at::Tensor& exp_avg_sq() const { return exp_avg_sq_; }
  at::ScalarType master_dtype() const { return master_.scalar_type(); }
  bool offloaded() const { return options_.offload; }
  bool pinned() const { return pinned_; }
  // Bytes of master + moments + master-dtype gradient (+ the 16-bit host staging copy).
  int64_t bytes() const;
  std::string optimizer_name() const { return optimizer_->Name(); }

 private:
  OffloadOptions options_;
  bool pinned_ = false;
  at::Tensor master_;
  at::Tensor exp_avg_;
  at::Tensor exp_avg_sq_;
  at::Tensor grad_;
  at::Tensor param_host_;  // offload with 16-bit parameters: the kernel writes the copy here
  // Pinned offload of a CUDA model: the side stream of the device-to-host copies, and per chunk
  // offset the events of the copies in flight (to the host; back to the device).
  std::optional<c10::Stream> copy_stream_;
  std::map<int64_t, c10::Event> staged_copies_;
  std::map<int64_t, c10::Event> returned_copies_;
  std::unique_ptr<PartitionOptimizer> optimizer_;
};

}  // namespace zt::sharding
