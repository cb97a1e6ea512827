#include "sharding/zero/grad_norm.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace zt::sharding {
namespace {

// Elements per chunk of SquaredNormFp64: the fp32 copy of a 16-bit chunk is 64 MiB, small next to
// any gradient worth chunking, and a 7B model's gradients take a few hundred chunks (a few
// hundred small kernels, no host sync).
constexpr int64_t kNormChunkNumel = int64_t{16} << 20;

}  // namespace

at::Tensor SquaredNormFp64(const std::vector<at::Tensor>& tensors) {
  return SquaredNormFp64(tensors, kNormChunkNumel);
}

at::Tensor SquaredNormFp64(const std::vector<at::Tensor>& tensors, int64_t chunk_numel) {
  TORCH_CHECK(chunk_numel > 0, "SquaredNormFp64: chunk_numel ", chunk_numel);
  const at::Device device = tensors.empty() ? at::Device(at::kCPU) : tensors.front().device();
  at::Tensor total = at::zeros({1}, at::TensorOptions().dtype(at::kDouble).device(device));
  for (const at::Tensor& t : tensors) {
    if (t.numel() == 0) continue;
    // Gradient buffers are contiguous; another layout pays one same-dtype copy.
    const at::Tensor flat = t.contiguous().view({-1});
    // fp64 gradients keep fp64; the others are upcast to fp32 a chunk at a time.
    const at::ScalarType dtype = t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    for (int64_t start = 0; start < flat.numel(); start += chunk_numel) {
      const at::Tensor chunk = flat.narrow(0, start, std::min(chunk_numel, flat.numel() - start));
      // A plain sum (cascade on the CPU, a tree on CUDA) is accurate to ~1e-7 in fp32 where the
      // fp32 norm kernel of 16-bit input is not; 16-bit chunks square their fp32 copy in place.
      const at::Tensor upcast = chunk.to(dtype);
      const at::Tensor squares = upcast.is_same(chunk) ? upcast.square() : upcast.square_();
      total.add_(squares.sum().to(at::kDouble));
    }
  }
  return total;
}

absl::StatusOr<double> GlobalNorm(const at::Tensor& local_squared, Communicator* comm,
                                  absl::Time deadline) {
  at::Tensor sum = local_squared.contiguous().clone();
  if (comm != nullptr && comm->Size() > 1) {
    absl::StatusOr<std::unique_ptr<Work>> work = comm->AllReduce(sum, ReduceOp::kSum);
    if (!work.ok()) return work.status();
    absl::Status waited = (*work)->Wait(deadline);
    if (!waited.ok()) return waited;
  }
  const double norm = std::sqrt(sum.item<double>());
  return std::isfinite(norm) ? norm : -1.0;
}

at::Tensor NonFiniteFlag(const std::vector<at::Tensor>& tensors) {
  at::Tensor flag;
  for (const at::Tensor& t : tensors) {
    if (t.numel() == 0) continue;
    at::Tensor bad = at::isfinite(t).logical_not().any().to(at::kFloat).reshape({1});
    flag = flag.defined() ? at::maximum(flag, bad) : bad;
  }
  if (!flag.defined()) {
    at::Device device = tensors.empty() ? at::Device(at::kCPU) : tensors.front().device();
    return at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(device));
  }
  return flag;
}

absl::StatusOr<bool> GlobalOverflow(const at::Tensor& local_flag, Communicator* comm,
                                    absl::Time deadline) {
  at::Tensor flag = local_flag.contiguous().clone();
  if (comm != nullptr && comm->Size() > 1) {
    absl::StatusOr<std::unique_ptr<Work>> work = comm->AllReduce(flag, ReduceOp::kMax);
    if (!work.ok()) return work.status();
    absl::Status waited = (*work)->Wait(deadline);
    if (!waited.ok()) return waited;
  }
  return flag.item<float>() > 0.0f;
}

}  // namespace zt::sharding
