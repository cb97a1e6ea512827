#include "sharding/zero/bucket_update_worker.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace zt::sharding {

BucketUpdateWorker::BucketUpdateWorker(int num_buckets, absl::Duration collective_timeout,
                                       c10::Device device)
    : num_buckets_(num_buckets), collective_timeout_(collective_timeout), device_(device),
      updates_(num_buckets, 0), sequence_(num_buckets, 0) {}

BucketUpdateWorker::~BucketUpdateWorker() {
  if (!thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    quit_ = true;  // a posted step still runs first
  }
  thread_.join();
}

void BucketUpdateWorker::Post(Update update) {
  // One long-lived thread: its OpenMP team (CPU AdamW) and ATen thread state are made once.
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  absl::MutexLock lock(&mu_);
  completed_ = 0;
  done_ = false;
  posted_ = std::move(update);
}

void BucketUpdateWorker::Loop() {
  at::NoGradGuard no_grad;
  // The communicator orders its work after this device's current stream.
  c10::OptionalDeviceGuard device(device_);
  while (true) {
    Update update;
    {
      absl::MutexLock lock(&mu_);
      auto posted = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return posted_.has_value() || quit_;
      };
      mu_.Await(absl::Condition(&posted));
      if (!posted_.has_value()) return;  // quit with nothing posted
      update = std::move(*posted_);
      posted_.reset();
    }
    Run(update);
  }
}

void BucketUpdateWorker::Run(const Update& update) {
  StepPhaseTimes times;
  absl::Status status;
  auto wait = [this](Work& work) { return work.Wait(absl::Now() + collective_timeout_); };
  // One all-gather stays in flight while the next bucket steps on the CPU.
  std::unique_ptr<Work> pending;
  int pending_bucket = -1;
  for (int u = 0; u < num_buckets_ && status.ok(); ++u) {
    std::unique_ptr<Work> gather;
    status = update(u, times, gather);
    if (!status.ok()) break;
    if (pending != nullptr) {
      status = wait(*pending);
      pending.reset();
      if (!status.ok()) break;
      MarkUpdated(pending_bucket);
    }
    if (gather == nullptr) {
      MarkUpdated(u);
    } else {
      pending = std::move(gather);
      pending_bucket = u;
    }
  }
  if (pending != nullptr) {
    const absl::Status waited = wait(*pending);
    if (status.ok() && waited.ok()) MarkUpdated(pending_bucket);
    if (status.ok()) status = waited;
  }
  absl::MutexLock lock(&mu_);
  times_.grad_copy_s += times.grad_copy_s;
  times_.optimizer_s += times.optimizer_s;
  times_.param_copy_s += times.param_copy_s;
  if (!status.ok() && error_.ok()) {
    error_ = absl::Status(status.code(),
                          absl::StrCat("asynchronous offload step: ", status.message()));
  }
  done_ = true;
  ++steps_;
}

absl::Status BucketUpdateWorker::WaitFor(int bucket) {
  if (bucket < 0 || bucket >= num_buckets_) {
    return absl::OutOfRangeError(absl::StrCat("zero engine: update bucket ", bucket,
                                              "; expected 0 to ", num_buckets_ - 1));
  }
  absl::MutexLock lock(&mu_);
  auto ready = [this, bucket]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return done_ || completed_ > bucket;
  };
  mu_.Await(absl::Condition(&ready));
  return error_;
}

absl::Status BucketUpdateWorker::WaitForAll() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&done_));
  return error_;
}

void BucketUpdateWorker::MarkUpdated(int bucket) {
  absl::MutexLock lock(&mu_);
  ++updates_[bucket];
  sequence_[bucket] = ++last_sequence_;
  completed_ = std::max(completed_, bucket + 1);
}

StepPhaseTimes BucketUpdateWorker::TakeTimes() {
  absl::MutexLock lock(&mu_);
  StepPhaseTimes times = times_;
  times_ = StepPhaseTimes();
  return times;
}

int64_t BucketUpdateWorker::Updates(int bucket) const {
  absl::MutexLock lock(&mu_);
  return updates_.at(bucket);
}

int64_t BucketUpdateWorker::Sequence(int bucket) const {
  absl::MutexLock lock(&mu_);
  return sequence_.at(bucket);
}

int64_t BucketUpdateWorker::Steps() const {
  absl::MutexLock lock(&mu_);
  return steps_;
}

}  // namespace zt::sharding
