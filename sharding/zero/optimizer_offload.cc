#include "sharding/zero/optimizer_offload.h"

#include <ATen/ATen.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include "absl/time/clock.h"
#include "common/log.h"
#include "common/torch_compat.h"

namespace zt::sharding {
namespace {

double SecondsSince(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

}  // namespace

OptimizerPartition::OptimizerPartition(const at::Tensor& initial, const OffloadOptions& options)
    : options_(options) {
  const at::ScalarType master_dtype =
      initial.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const int64_t numel = initial.numel();
  auto allocate = [&](at::ScalarType dtype) {
    if (options_.offload) return common::EmptyHostBuffer({numel}, dtype, options_.pin_memory);
    return at::empty({numel}, initial.options().dtype(dtype));
  };
  if (options_.offload) {
    pinned_ = options_.pin_memory && common::PinnedMemoryAvailable();
    if (options_.pin_memory && !pinned_) {
      // Once per process (a thread-safe static).
      static const bool logged = [] {
        log::Warn("[zero] offload_optimizer.pin_memory: no CUDA device, host buffers are pageable");
        return true;
      }();
      (void)logged;
    }
  }
  at::NoGradGuard no_grad;
  master_ = allocate(master_dtype);
  master_.copy_(initial);
  exp_avg_ = allocate(master_dtype).zero_();
  exp_avg_sq_ = allocate(master_dtype).zero_();
  grad_ = allocate(master_dtype);
  if (options_.offload && initial.scalar_type() != master_dtype) {
    param_host_ = allocate(initial.scalar_type());
  }
  optimizer_ = MakePartitionOptimizer(master_dtype, master_.device());
}

void OptimizerPartition::StageGradChunk(int64_t offset, const at::Tensor& grad_chunk,
                                        StepPhaseTimes& times) {
  at::NoGradGuard no_grad;
  const absl::Time start = absl::Now();
  at::Tensor staged = grad_.narrow(0, offset, grad_chunk.numel());
  if (!pinned_ || !grad_chunk.is_cuda()) {
    staged.copy_(grad_chunk);
    times.grad_copy_s += SecondsSince(start);
    return;
  }
  // Device to pinned host on a side stream, after what the compute stream has enqueued so far
  // (the reduction that produced the chunk); backward goes on meanwhile. StepChunk waits for
  // this chunk's copy only; FenceStagedCopies orders the next writes to the chunk after it.
  const c10::impl::VirtualGuardImpl impl(grad_chunk.device().type());
  const c10::Stream compute = impl.getStream(grad_chunk.device());
  if (!copy_stream_.has_value()) copy_stream_ = impl.getStreamFromGlobalPool(grad_chunk.device());
  c10::Event ready(grad_chunk.device().type());
  ready.record(compute);
  ready.block(*copy_stream_);
  {
    const c10::StreamGuard on_copy_stream(*copy_stream_);
    staged.copy_(grad_chunk, /*non_blocking=*/true);
  }
  c10::Event done(grad_chunk.device().type());
  done.record(*copy_stream_);
  staged_copies_.erase(offset);
  staged_copies_.emplace(offset, std::move(done));
  times.grad_copy_s += SecondsSince(start);
}

void OptimizerPartition::FenceStagedCopies() {
  if (staged_copies_.empty()) return;
  const at::Device device = copy_stream_->device();
  const c10::Stream compute = c10::impl::VirtualGuardImpl(device.type()).getStream(device);
  for (const auto& [offset, done] : staged_copies_) done.block(compute);
}

absl::Status OptimizerPartition::StepChunk(int64_t offset, double grad_multiplier,
                                           const AdamWHyper& hyper, at::Tensor param_chunk,
                                           StepPhaseTimes& times) {
  at::NoGradGuard no_grad;
  const int64_t numel = param_chunk.numel();
  at::Tensor grad = grad_.narrow(0, offset, numel);
  absl::Time start = absl::Now();
  // This chunk's device-to-host copy landed; the last step's copy back out of its host buffers
  // finished before AdamW overwrites them.
  if (auto it = staged_copies_.find(offset); it != staged_copies_.end()) {
    it->second.synchronize();
    staged_copies_.erase(it);
  }
  if (auto it = returned_copies_.find(offset); it != returned_copies_.end()) {
    it->second.synchronize();
    returned_copies_.erase(it);
  }
  if (grad_multiplier != 1.0) grad.mul_(grad_multiplier);
  times.grad_copy_s += SecondsSince(start);

  start = absl::Now();
  AdamWTensors tensors;
  tensors.param = master_.narrow(0, offset, numel);
  tensors.grad = grad;
  tensors.exp_avg = exp_avg_.narrow(0, offset, numel);
  tensors.exp_avg_sq = exp_avg_sq_.narrow(0, offset, numel);
  if (param_host_.defined()) tensors.param_copy = param_host_.narrow(0, offset, numel);
  absl::Status stepped = optimizer_->Step(tensors, hyper);
  if (!stepped.ok()) return stepped;
  times.optimizer_s += SecondsSince(start);

  start = absl::Now();
  const at::Tensor updated = param_host_.defined() ? tensors.param_copy : tensors.param;
  if (!pinned_ || !param_chunk.is_cuda()) {
    param_chunk.copy_(updated);
  } else {
    // Pinned host to device on the current stream without holding the host: the all-gather and
    // the next forward are enqueued after it on that stream.
    param_chunk.copy_(updated, /*non_blocking=*/true);
    c10::Event done(param_chunk.device().type());
    done.record(c10::impl::VirtualGuardImpl(param_chunk.device().type())
                    .getStream(param_chunk.device()));
    returned_copies_.emplace(offset, std::move(done));
  }
  times.param_copy_s += SecondsSince(start);
  return absl::OkStatus();
}

int64_t OptimizerPartition::bytes() const {
  int64_t total = master_.nbytes() + exp_avg_.nbytes() + exp_avg_sq_.nbytes() + grad_.nbytes();
  if (param_host_.defined()) total += param_host_.nbytes();
  return total;
}

}  // namespace zt::sharding
