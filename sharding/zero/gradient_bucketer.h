// Gradient reduction bucket by bucket while backward runs (ZeRO stages 0-2, docs/training.md).
//
// A grad-accumulator post-hook on every trainable parameter (common/torch_compat.h
// GradAccumulatorHook) copies the parameter's fresh gradient into its slot of
// its bucket's staging buffer (same layout as the flat parameter buffer, partition.h) and frees
// param.grad. When every parameter of a bucket has fired as often as it did in earlier
// backwards (a parameter used twice, e.g. tied or reached through a reentrant checkpoint,
// fires twice: both gradients are summed, and the bucket is reduced once), the staging buffer
// is divided by the world size and reduced:
//  - kReduceScatter (stages 1, 2): a true reduce-scatter; this rank's chunk lands in its
//    partition accumulator, into which the chunk of the previous micro-steps is folded first,
//    so no rank ever holds more than its partition plus the staging buffers;
//  - kAllReduce (stage 0): an all-reduce, added into the full-size accumulator.
// A parameter that fires after its bucket was reduced (more often than ever before) keeps its
// gradient in param.grad until FinishBackward, which reduces such buckets once more (all
// ranks must see the same firing pattern, as with DDP). Parameters that never fired (unused)
// contribute zeros; every bucket is reduced exactly once per reducing backward, in the same
// order on every rank when the firing order is the same.
//
// With overlap_comm one reduction stays in flight while the next bucket fills (the
// Communicator runs it on its own thread / stream); without it each reduction is waited for
// at once. BeginBackward(reduce = false) only counts firings: gradients then accumulate in
// param.grad (stage 0/1 between accumulation boundaries) and the boundary's reducing backward
// picks them up.
//
// Thread-safety: hooks run on the autograd thread; BeginBackward/FinishBackward on the caller's
// thread, before and after backward(). An internal mutex serialises them.
#pragma once

#include <ATen/core/Tensor.h>

#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/torch_compat.h"
#include "sharding/collectives/communicator.h"
#include "sharding/zero/partition.h"

namespace zt::sharding {

enum class GradientReduction { kAllReduce, kReduceScatter };

struct GradientBucketerOptions {
  GradientReduction reduction = GradientReduction::kReduceScatter;
  bool overlap_comm = false;
  // Per collective: a reduction not finished this long after it was waited for fails.
  absl::Duration collective_timeout = absl::Minutes(5);
  // Sample the gradient bytes held (accumulator + staging + every param.grad) in every hook.
  bool track_gradient_bytes = false;
  // Called with a bucket's index once its reduction finished and the accumulator holds the
  // result (again after a second round), on the thread that waited for it (the autograd
  // thread during backward) with the bucketer's lock held: it must not call the bucketer.
  std::function<void(int bucket)> on_reduced;
};

class GradientBucketer {
 public:
  // `params` in forward order (leaves requiring grad, matching `layout`); `accumulator`:
  // layout.partition_numel() elements (kReduceScatter) or layout.flat_numel() (kAllReduce), in
  // the gradient dtype, on the gradients' device. The communicator and layout must outlive this.
  GradientBucketer(std::vector<at::Tensor> params, const FlatLayout& layout, Communicator& comm,
                   at::Tensor accumulator, GradientBucketerOptions options);
  ~GradientBucketer();

  void BeginBackward(bool reduce);
  // Reduces what is left, waits for every reduction; the first error of the backward (a failed
  // collective, a gradient of the wrong dtype) is returned here.
  absl::Status FinishBackward();

  // The accumulator holds the sum over reducing backwards of this rank's part of the mean
  // gradient; the engine zeroes it after each optimizer step.
  const at::Tensor& accumulator() const { return accumulator_; }
  int64_t peak_gradient_bytes() const;
  int64_t staging_bytes() const;
  void ResetPeak();

 private:
  struct InFlight {
    int bucket = 0;
    at::Tensor staging;
    std::unique_ptr<Work> work;
  };

  void OnGradient(int param, const at::Tensor& leaf);
  at::Tensor& StagingFor(int bucket) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddGradToStaging(int param, at::Tensor& staging) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Launch(int bucket) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WaitOldest() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordBytes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Fail(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::vector<at::Tensor> params_;
  const FlatLayout& layout_;
  Communicator& comm_;
  at::Tensor accumulator_;
  const GradientBucketerOptions options_;
  std::vector<common::GradAccumulatorHook> hooks_;

  mutable absl::Mutex mu_;
  bool reduce_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::vector<int> fires_ ABSL_GUARDED_BY(mu_);     // this backward
  std::vector<int> expected_ ABSL_GUARDED_BY(mu_);  // most fires seen in one backward
  std::vector<int> pending_ ABSL_GUARDED_BY(mu_);   // per bucket: params not done firing
  std::vector<bool> launched_ ABSL_GUARDED_BY(mu_);
  std::vector<at::Tensor> open_ ABSL_GUARDED_BY(mu_);  // per bucket: its staging while filling
  std::vector<at::Tensor> free_staging_ ABSL_GUARDED_BY(mu_);
  std::deque<InFlight> in_flight_ ABSL_GUARDED_BY(mu_);
  int64_t staging_allocated_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t peak_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace zt::sharding
