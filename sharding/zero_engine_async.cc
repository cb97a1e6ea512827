// ZeroEngine's update order and the asynchronous offload step (zero_engine.h): the worker
// thread that steps the buckets in update order after Step() returned, and the waits the next
// forward calls.
#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include <algorithm>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "sharding/zero_engine.h"
#include "sharding/zero_engine_group.h"

namespace zt::sharding {

void ZeroEngine::BuildUpdateOrder(const std::vector<std::vector<int>>& forward_positions) {
  // A bucket's key: its earliest parameter's forward position (or, without positions, its
  // group's parameters after those of the groups before it).
  struct Keyed {
    int64_t key;
    UpdateBucket bucket;
  };
  std::vector<Keyed> keyed;
  int64_t group_base = 0;
  for (int g = 0; g < static_cast<int>(groups_.size()); ++g) {
    const FlatLayout& layout = groups_[g]->buffer.layout();
    const std::vector<int>& positions = forward_positions[g];
    for (int b = static_cast<int>(layout.buckets().size()) - 1; b >= 0; --b) {
      int64_t key = std::numeric_limits<int64_t>::max();
      for (int p : layout.buckets()[b].params) {
        key = std::min<int64_t>(key, positions.empty() ? group_base + p : positions[p]);
      }
      keyed.push_back({key, {g, b}});
    }
    group_base += layout.num_params();
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const Keyed& a, const Keyed& b) { return a.key < b.key; });
  update_index_.assign(groups_.size(), {});
  for (int g = 0; g < static_cast<int>(groups_.size()); ++g) {
    update_index_[g].assign(groups_[g]->buffer.layout().buckets().size(), 0);
  }
  for (const Keyed& k : keyed) {
    update_index_[k.bucket.group][k.bucket.bucket] = static_cast<int>(update_order_.size());
    update_order_.push_back(k.bucket);
  }
  absl::MutexLock lock(&async_mu_);
  bucket_updates_.assign(update_order_.size(), 0);
  bucket_sequence_.assign(update_order_.size(), 0);
}

absl::StatusOr<int> ZeroEngine::UpdateBucketOf(absl::string_view param_name) const {
  for (int g = 0; g < static_cast<int>(groups_.size()); ++g) {
    const std::vector<std::string>& names = groups_[g]->names;
    auto it = std::find(names.begin(), names.end(), param_name);
    if (it == names.end()) continue;
    const int p = static_cast<int>(it - names.begin());
    return update_index_[g][groups_[g]->buffer.layout().slot(p).bucket];
  }
  return absl::NotFoundError(
      absl::StrCat("zero engine: no trainable parameter named '", param_name, "'"));
}

absl::Status ZeroEngine::WaitForParameters(int update_bucket) {
  if (update_bucket < 0 || update_bucket >= NumUpdateBuckets()) {
    return absl::OutOfRangeError(absl::StrCat("zero engine: update bucket ", update_bucket,
                                              "; expected 0 to ", NumUpdateBuckets() - 1));
  }
  absl::MutexLock lock(&async_mu_);
  auto ready = [this, update_bucket]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(async_mu_) {
    return async_done_ || async_completed_ > update_bucket;
  };
  async_mu_.Await(absl::Condition(&ready));
  return async_error_;
}

absl::Status ZeroEngine::WaitForParameters(absl::string_view param_name) {
  ZT_ASSIGN_OR_RETURN(const int bucket, UpdateBucketOf(param_name));
  return WaitForParameters(bucket);
}

absl::Status ZeroEngine::WaitForAllParameters() {
  absl::MutexLock lock(&async_mu_);
  async_mu_.Await(absl::Condition(&async_done_));
  return async_error_;
}

int64_t ZeroEngine::BucketUpdates(int update_bucket) const {
  absl::MutexLock lock(&async_mu_);
  return bucket_updates_.at(update_bucket);
}

int64_t ZeroEngine::BucketUpdateSequence(int update_bucket) const {
  absl::MutexLock lock(&async_mu_);
  return bucket_sequence_.at(update_bucket);
}

int64_t ZeroEngine::AsyncSteps() const {
  absl::MutexLock lock(&async_mu_);
  return async_steps_;
}

void ZeroEngine::MarkBucketUpdated(int update_bucket) {
  absl::MutexLock lock(&async_mu_);
  ++bucket_updates_[update_bucket];
  bucket_sequence_[update_bucket] = ++update_sequence_;
  async_completed_ = std::max(async_completed_, update_bucket + 1);
}

absl::Status ZeroEngine::UpdateBucketChunk(int update_bucket, double multiplier,
                                           const AdamWHyper& hyper, StepPhaseTimes& times,
                                           std::unique_ptr<Work>& gather) {
  const UpdateBucket& u = update_order_[update_bucket];
  Group& group = *groups_[u.group];
  const FlatLayout& layout = group.buffer.layout();
  const int64_t offset = layout.buckets()[u.bucket].partition_offset;
  at::Tensor out = options_.stage == 0 ? group.buffer.Chunk(u.bucket, 0)
                                       : PartitionChunk(group.send, layout, u.bucket);
  ZT_RETURN_IF_ERROR(group.optimizer->StepChunk(offset, multiplier, hyper, out, times));
  if (options_.stage == 0) return absl::OkStatus();
  if (comm_->Size() == 1) {
    group.buffer.BucketRegion(u.bucket).copy_(out);
    return absl::OkStatus();
  }
  ZT_ASSIGN_OR_RETURN(gather, comm_->AllGather(out, group.buffer.BucketRegion(u.bucket)));
  return absl::OkStatus();
}

void ZeroEngine::StartAsyncUpdates(double multiplier, std::vector<AdamWHyper> hypers) {
  // One long-lived worker: its OpenMP team (CPU AdamW) and ATen thread state are made once,
  // not per step.
  if (!async_worker_.joinable()) async_worker_ = std::thread([this] { AsyncWorkerLoop(); });
  absl::MutexLock lock(&async_mu_);
  async_completed_ = 0;
  async_done_ = false;
  async_job_ = AsyncJob{multiplier, std::move(hypers)};
}

void ZeroEngine::AsyncWorkerLoop() {
  at::NoGradGuard no_grad;
  // A new thread's current CUDA device is 0: make it the parameters' (the communicator orders
  // its work after that device's current stream).
  c10::OptionalDeviceGuard device;
  if (!groups_.empty()) device.reset_device(groups_.front()->buffer.flat().device());
  while (true) {
    AsyncJob job;
    {
      absl::MutexLock lock(&async_mu_);
      auto posted = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(async_mu_) {
        return async_job_.has_value() || async_quit_;
      };
      async_mu_.Await(absl::Condition(&posted));
      if (!async_job_.has_value()) return;  // quit with nothing posted
      job = std::move(*async_job_);
      async_job_.reset();
    }
    RunAsyncUpdates(job.multiplier, job.hypers);
  }
}

void ZeroEngine::StopAsyncWorker() {
  if (!async_worker_.joinable()) return;
  {
    absl::MutexLock lock(&async_mu_);
    async_quit_ = true;  // a posted step still runs first
  }
  async_worker_.join();
}

void ZeroEngine::RunAsyncUpdates(double multiplier, const std::vector<AdamWHyper>& hypers) {
  StepPhaseTimes times;
  absl::Status status;
  // One all-gather stays in flight while the next bucket steps on the CPU.
  std::unique_ptr<Work> pending;
  int pending_bucket = -1;
  for (int u = 0; u < NumUpdateBuckets() && status.ok(); ++u) {
    std::unique_ptr<Work> gather;
    status = UpdateBucketChunk(u, multiplier, hypers[update_order_[u].group], times, gather);
    if (!status.ok()) break;
    if (pending != nullptr) {
      status = pending->Wait(Deadline());
      pending.reset();
      if (!status.ok()) break;
      MarkBucketUpdated(pending_bucket);
    }
    if (gather == nullptr) {
      MarkBucketUpdated(u);
    } else {
      pending = std::move(gather);
      pending_bucket = u;
    }
  }
  if (pending != nullptr) {
    absl::Status waited = pending->Wait(Deadline());
    if (status.ok() && waited.ok()) MarkBucketUpdated(pending_bucket);
    if (status.ok()) status = waited;
  }
  absl::MutexLock lock(&async_mu_);
  async_times_.grad_copy_s += times.grad_copy_s;
  async_times_.optimizer_s += times.optimizer_s;
  async_times_.param_copy_s += times.param_copy_s;
  if (!status.ok() && async_error_.ok()) {
    async_error_ = absl::Status(status.code(),
                                absl::StrCat("asynchronous offload step: ", status.message()));
  }
  async_done_ = true;
  ++async_steps_;
}

}  // namespace zt::sharding
