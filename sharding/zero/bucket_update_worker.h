// The worker thread of ZeroEngine's asynchronous offload step (zero_engine.h): one long-lived
// thread that runs a posted step's per-bucket updates in update order after Step() returned,
// and the waits that tell the next forward which buckets hold their new parameters.
//
// A step is `update(u, times, gather)` for u = 0 .. num_buckets - 1: it steps bucket u and may
// hand back its all-gather still in flight; one gather stays in flight while the next bucket
// steps, and bucket u counts as updated once its gather finished. The first error stops the
// step; every Wait after it returns that error (the parameters are then undefined). The
// synchronous path marks buckets itself (MarkUpdated), so the per-bucket counters tests read
// are the same on both paths.
//
// Thread-safe between the training thread and the worker; one training thread posts.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sharding/collectives/communicator.h"
#include "sharding/zero/optimizer_offload.h"

namespace zt::sharding {

class BucketUpdateWorker {
 public:
  using Update =
      std::function<absl::Status(int bucket, StepPhaseTimes& times, std::unique_ptr<Work>& gather)>;

  // `device`: the parameters' device, made current on the worker (a new thread's CUDA device
  // is 0). The thread starts on the first Post.
  BucketUpdateWorker(int num_buckets, absl::Duration collective_timeout, c10::Device device);
  // Lets a posted step finish, then joins.
  ~BucketUpdateWorker();
  BucketUpdateWorker(const BucketUpdateWorker&) = delete;
  BucketUpdateWorker& operator=(const BucketUpdateWorker&) = delete;

  // Starts one step; the previous one must have finished (WaitForAll).
  void Post(Update update);
  // Blocks until bucket `bucket` and every one before it are updated, or no step is in flight.
  absl::Status WaitFor(int bucket);
  absl::Status WaitForAll();
  // The synchronous path: bucket `bucket` was updated by the caller.
  void MarkUpdated(int bucket);
  // The phase times the worker's steps took since the last call.
  StepPhaseTimes TakeTimes();

  int num_buckets() const { return num_buckets_; }
  int64_t Updates(int bucket) const;
  int64_t Sequence(int bucket) const;
  int64_t Steps() const;  // steps the worker finished

 private:
  void Loop();
  void Run(const Update& update);

  const int num_buckets_;
  const absl::Duration collective_timeout_;
  const c10::Device device_;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::optional<Update> posted_ ABSL_GUARDED_BY(mu_);
  bool quit_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = true;
  int completed_ ABSL_GUARDED_BY(mu_) = 0;  // buckets updated in the running step
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  StepPhaseTimes times_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> updates_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> sequence_ ABSL_GUARDED_BY(mu_);
  int64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t steps_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace zt::sharding
