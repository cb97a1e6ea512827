#include "sharding/zero/gradient_bucketer.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sharding/zero/flat_buffer.h"

namespace zt::sharding {

GradientBucketer::GradientBucketer(std::vector<at::Tensor> params, const FlatLayout& layout,
                                   Communicator& comm, at::Tensor accumulator,
                                   GradientBucketerOptions options)
    : params_(std::move(params)),
      layout_(layout),
      comm_(comm),
      accumulator_(std::move(accumulator)),
      options_(options) {
  const size_t num_buckets = layout_.buckets().size();
  {
    absl::MutexLock lock(&mu_);
    fires_.assign(params_.size(), 0);
    expected_.assign(params_.size(), 1);
    pending_.assign(num_buckets, 0);
    launched_.assign(num_buckets, false);
    open_.assign(num_buckets, at::Tensor());
  }
  hooks_.reserve(params_.size());
  for (int i = 0; i < static_cast<int>(params_.size()); ++i) {
    hooks_.emplace_back(params_[i], [this, i](const at::Tensor& leaf) { OnGradient(i, leaf); });
  }
}

GradientBucketer::~GradientBucketer() {
  hooks_.clear();
  absl::MutexLock lock(&mu_);
  while (!in_flight_.empty()) WaitOldest();
}

void GradientBucketer::BeginBackward(bool reduce) {
  absl::MutexLock lock(&mu_);
  reduce_ = reduce;
  std::fill(fires_.begin(), fires_.end(), 0);
  std::fill(launched_.begin(), launched_.end(), false);
  for (size_t b = 0; b < layout_.buckets().size(); ++b) {
    pending_[b] = static_cast<int>(layout_.buckets()[b].params.size());
  }
}

void GradientBucketer::OnGradient(int param, const at::Tensor& /*leaf*/) {
  absl::MutexLock lock(&mu_);
  ++fires_[param];
  RecordBytes();  // with the fresh gradient still in param.grad
  if (reduce_ && error_.ok()) {
    const int bucket = layout_.slot(param).bucket;
    // A firing after the bucket was reduced keeps its gradient in param.grad for
    // FinishBackward's second round.
    if (!launched_[bucket]) {
      AddGradToStaging(param, StagingFor(bucket));
      if (fires_[param] == expected_[param] && --pending_[bucket] == 0) Launch(bucket);
    }
  }
  RecordBytes();
}

absl::Status GradientBucketer::FinishBackward() {
  absl::MutexLock lock(&mu_);
  if (reduce_) {
    const int num_buckets = static_cast<int>(layout_.buckets().size());
    for (int b = 0; b < num_buckets && error_.ok(); ++b) {
      if (launched_[b]) continue;
      at::Tensor& staging = StagingFor(b);
      for (int p : layout_.buckets()[b].params) AddGradToStaging(p, staging);
      Launch(b);
    }
    while (!in_flight_.empty()) WaitOldest();
    // Gradients that arrived after their bucket was reduced: one more round for those buckets.
    for (int b = 0; b < num_buckets && error_.ok(); ++b) {
      const std::vector<int>& members = layout_.buckets()[b].params;
      const bool late = std::any_of(members.begin(), members.end(),
                                    [&](int p) { return params_[p].grad().defined(); });
      if (!late) continue;
      at::Tensor& staging = StagingFor(b);
      for (int p : members) AddGradToStaging(p, staging);
      Launch(b);
    }
    while (!in_flight_.empty()) WaitOldest();
  }
  for (size_t p = 0; p < params_.size(); ++p) expected_[p] = std::max(expected_[p], fires_[p]);
  reduce_ = false;
  absl::Status status = error_;
  error_ = absl::OkStatus();
  return status;
}

at::Tensor& GradientBucketer::StagingFor(int bucket) {
  at::Tensor& open = open_[bucket];
  if (open.defined()) return open;
  // Without overlap_comm nothing is in flight here; with it one reduction may stay in flight
  // while this bucket fills (two staging buffers), an older one is waited for.
  const size_t may_stay_in_flight = options_.overlap_comm ? 1 : 0;
  if (free_staging_.empty() && in_flight_.size() > may_stay_in_flight) WaitOldest();
  if (free_staging_.empty()) {
    at::Tensor fresh = at::empty({layout_.largest_bucket_numel()}, accumulator_.options());
    staging_allocated_bytes_ += fresh.nbytes();
    free_staging_.push_back(fresh);
  }
  open = free_staging_.back();
  free_staging_.pop_back();
  open.narrow(0, 0, layout_.buckets()[bucket].numel).zero_();
  return open;
}

void GradientBucketer::AddGradToStaging(int param, at::Tensor& staging) {
  at::Tensor& p = params_[param];
  const at::Tensor& grad = p.grad();
  if (!grad.defined()) return;
  if (grad.scalar_type() != staging.scalar_type() || grad.device() != staging.device()) {
    Fail(absl::InvalidArgumentError(absl::StrCat(
        "gradient bucketer: parameter ", param, " has a ", c10::toString(grad.scalar_type()),
        " gradient on ", grad.device().str(), "; expected ", c10::toString(staging.scalar_type()),
        " on ", staging.device().str())));
    return;
  }
  const ParamSlot& slot = layout_.slot(param);
  const int64_t offset = slot.bucket_offset;
  at::NoGradGuard no_grad;
  staging.narrow(0, offset, slot.numel).add_(grad.reshape({-1}));
  p.mutable_grad().reset();
}

void GradientBucketer::Launch(int bucket) {
  const Bucket& b = layout_.buckets()[bucket];
  at::Tensor staging = StagingFor(bucket);
  open_[bucket] = at::Tensor();
  launched_[bucket] = true;
  at::NoGradGuard no_grad;
  at::Tensor region = staging.narrow(0, 0, b.numel);
  const int world = comm_.Size();
  if (world > 1) region.div_(world);  // DeepSpeed divides before the reduction
  absl::StatusOr<std::unique_ptr<Work>> work;
  if (options_.reduction == GradientReduction::kReduceScatter) {
    at::Tensor own = PartitionChunk(accumulator_, layout_, bucket);
    region.narrow(0, comm_.Rank() * b.chunk_numel, b.chunk_numel).add_(own);
    work = comm_.ReduceScatter(region, own, ReduceOp::kSum);
  } else {
    work = comm_.AllReduce(region, ReduceOp::kSum);
  }
  if (!work.ok()) {
    free_staging_.push_back(staging);
    Fail(work.status());
    return;
  }
  if (options_.overlap_comm) {
    while (!in_flight_.empty()) WaitOldest();
  }
  in_flight_.push_back(InFlight{bucket, staging, std::move(*work)});
  if (!options_.overlap_comm) WaitOldest();
}

void GradientBucketer::WaitOldest() {
  InFlight op = std::move(in_flight_.front());
  in_flight_.pop_front();
  absl::Status status = op.work->Wait(absl::Now() + options_.collective_timeout);
  if (!status.ok()) {
    Fail(status);
  } else if (options_.reduction == GradientReduction::kAllReduce) {
    const Bucket& b = layout_.buckets()[op.bucket];
    at::NoGradGuard no_grad;
    accumulator_.narrow(0, b.flat_offset, b.numel).add_(op.staging.narrow(0, 0, b.numel));
  }
  free_staging_.push_back(op.staging);
  if (status.ok() && options_.on_reduced) options_.on_reduced(op.bucket);
}

void GradientBucketer::RecordBytes() {
  if (!options_.track_gradient_bytes) return;
  int64_t bytes = accumulator_.nbytes() + staging_allocated_bytes_;
  for (const at::Tensor& p : params_) {
    if (p.grad().defined()) bytes += p.grad().nbytes();
  }
  peak_bytes_ = std::max(peak_bytes_, bytes);
}

void GradientBucketer::Fail(absl::Status status) {
  if (error_.ok()) error_ = std::move(status);
}

int64_t GradientBucketer::peak_gradient_bytes() const {
  absl::MutexLock lock(&mu_);
  return peak_bytes_;
}

int64_t GradientBucketer::staging_bytes() const {
  absl::MutexLock lock(&mu_);
  return staging_allocated_bytes_;
}

void GradientBucketer::ResetPeak() {
  absl::MutexLock lock(&mu_);
  peak_bytes_ = 0;
}

}  // namespace zt::sharding
