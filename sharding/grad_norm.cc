#include "sharding/grad_norm.h"

#include <ATen/ATen.h>

#include <cmath>

namespace zt::sharding {

at::Tensor SquaredNormFp64(const std::vector<at::Tensor>& tensors) {
  at::Tensor total;
  for (const at::Tensor& t : tensors) {
    if (t.numel() == 0) continue;
    at::Tensor norm = at::linalg_vector_norm(t, 2, c10::nullopt, false, at::kDouble);
    at::Tensor sq = norm * norm;
    total = total.defined() ? total + sq : sq;
  }
  if (!total.defined()) {
    at::Device device = tensors.empty() ? at::Device(at::kCPU) : tensors.front().device();
    return at::zeros({1}, at::TensorOptions().dtype(at::kDouble).device(device));
  }
  return total.reshape({1});
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
