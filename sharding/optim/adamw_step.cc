#include "sharding/optim/adamw_step.h"

#include <ATen/ATen.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/cpu_adamw.h"

namespace zt::sharding {
namespace {

absl::Status CheckTensors(const AdamWTensors& t) {
  const at::Tensor* named[] = {&t.grad, &t.exp_avg, &t.exp_avg_sq};
  const char* names[] = {"grad", "exp_avg", "exp_avg_sq"};
  if (!t.param.defined() || !t.param.is_contiguous()) {
    return absl::InvalidArgumentError("adamw: param must be a defined contiguous tensor");
  }
  for (int i = 0; i < 3; ++i) {
    const at::Tensor& x = *named[i];
    if (!x.defined() || !x.is_contiguous() || x.numel() != t.param.numel() ||
        x.scalar_type() != t.param.scalar_type() || x.device() != t.param.device()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "adamw: ", names[i], " must be contiguous ", c10::toString(t.param.scalar_type()), "[",
          t.param.numel(), "] on ", t.param.device().str(), " like param"));
    }
  }
  if (t.param_copy.defined() && t.param_copy.numel() != t.param.numel()) {
    return absl::InvalidArgumentError(absl::StrCat("adamw: param_copy has ", t.param_copy.numel(),
                                                   " elements; expected ", t.param.numel()));
  }
  return absl::OkStatus();
}

class AtenAdamW final : public PartitionOptimizer {
 public:
  absl::Status Step(const AdamWTensors& t, const AdamWHyper& h) override {
    absl::Status valid = CheckTensors(t);
    if (!valid.ok()) return valid;
    at::NoGradGuard no_grad;
    const double bc1 = h.bias_correction ? 1.0 - std::pow(h.beta1, h.step) : 1.0;
    const double bc2 = h.bias_correction ? 1.0 - std::pow(h.beta2, h.step) : 1.0;
    at::Tensor g = t.grad;
    if (h.weight_decay > 0 && !h.adamw_mode) g = g.add(t.param, h.weight_decay);
    t.exp_avg.mul_(h.beta1).add_(g, 1.0 - h.beta1);
    t.exp_avg_sq.mul_(h.beta2).addcmul_(g, g, 1.0 - h.beta2);
    at::Tensor denom = t.exp_avg_sq.sqrt().div_(std::sqrt(bc2)).add_(h.eps);
    if (h.weight_decay > 0 && h.adamw_mode) t.param.mul_(1.0 - h.lr * h.weight_decay);
    t.param.addcdiv_(t.exp_avg, denom, -h.lr / bc1);
    if (t.param_copy.defined()) t.param_copy.copy_(t.param);
    return absl::OkStatus();
  }
  std::string Name() const override { return "aten"; }
};

class CpuKernelAdamW final : public PartitionOptimizer {
 public:
  explicit CpuKernelAdamW(int num_threads) : num_threads_(num_threads) {}

  absl::Status Step(const AdamWTensors& t, const AdamWHyper& h) override {
    absl::Status valid = CheckTensors(t);
    if (!valid.ok()) return valid;
    if (!t.param.device().is_cpu() || t.param.scalar_type() != at::kFloat) {
      return absl::InvalidArgumentError(absl::StrCat("cpu_adamw: needs fp32 CPU tensors; got ",
                                                     c10::toString(t.param.scalar_type()), " on ",
                                                     t.param.device().str()));
    }
    kernels::AdamWBuffers buffers;
    buffers.param = t.param.data_ptr<float>();
    buffers.grad = t.grad.data_ptr<float>();
    buffers.exp_avg = t.exp_avg.data_ptr<float>();
    buffers.exp_avg_sq = t.exp_avg_sq.data_ptr<float>();
    buffers.numel = t.param.numel();
    bool copy_after = false;
    if (t.param_copy.defined()) {
      const at::ScalarType copy = t.param_copy.scalar_type();
      if ((copy == at::kBFloat16 || copy == at::kHalf) && t.param_copy.device().is_cpu() &&
          t.param_copy.is_contiguous()) {
        buffers.param_copy = t.param_copy.data_ptr();
        buffers.copy_format =
            copy == at::kBFloat16 ? kernels::FloatFormat::kBF16 : kernels::FloatFormat::kF16;
      } else {
        copy_after = true;
      }
    }
    kernels::AdamWHyperParams hyper;
    hyper.lr = static_cast<float>(h.lr);
    hyper.beta1 = static_cast<float>(h.beta1);
    hyper.beta2 = static_cast<float>(h.beta2);
    hyper.eps = static_cast<float>(h.eps);
    hyper.weight_decay = static_cast<float>(h.weight_decay);
    hyper.adamw_mode = h.adamw_mode;
    hyper.bias_correction = h.bias_correction;
    hyper.step = h.step;
    kernels::CpuAdamWOptions options;
    options.num_threads = num_threads_;
    isa_ = kernels::CpuAdamWStep(buffers, hyper, options);
    if (copy_after) t.param_copy.copy_(t.param);
    return absl::OkStatus();
  }
  std::string Name() const override {
    return absl::StrCat("cpu_adamw/", kernels::CpuIsaName(isa_));
  }

 private:
  int num_threads_;
  kernels::CpuIsa isa_ = kernels::BestCpuIsa();
};

}  // namespace

AdamWHyper AdamWHyperFromConfig(const configs::OptimizerConfig& optimizer) {
  AdamWHyper h;
  h.lr = optimizer.lr;
  h.beta1 = optimizer.beta1;
  h.beta2 = optimizer.beta2;
  h.eps = optimizer.eps;
  h.weight_decay = optimizer.weight_decay;
  h.adamw_mode = optimizer.adamw_mode;
  h.bias_correction = optimizer.bias_correction;
  return h;
}

std::unique_ptr<PartitionOptimizer> MakeAtenAdamW() { return std::make_unique<AtenAdamW>(); }

std::unique_ptr<PartitionOptimizer> MakeCpuKernelAdamW(int num_threads) {
  return std::make_unique<CpuKernelAdamW>(num_threads);
}

std::unique_ptr<PartitionOptimizer> MakePartitionOptimizer(at::ScalarType master_dtype,
                                                           const at::Device& device) {
  if (master_dtype == at::kFloat && device.is_cpu()) return MakeCpuKernelAdamW();
  return MakeAtenAdamW();
}

}  // namespace zt::sharding
