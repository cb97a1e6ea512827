// The optimizer step on one partition chunk: Adam/AdamW with DeepSpeed's semantics
// (docs/training.md): `"type": "Adam"` means decoupled weight decay (AdamW) unless
// adam_w_mode is false; bias correction 1 - beta^t with t counted from 1 and advanced only by
// applied (not skipped) steps; decay uses the pre-update parameter.
//
// Two implementations behind one interface, chosen per partition by MakePartitionOptimizer:
//  - kernels/cpu_adamw (AVX2/AVX-512/scalar, OpenMP) for fp32 CPU tensors: the offload path;
//  - an ATen reference step for every other case (device tensors, float64 masters).
// Both compute the same formula; tests hold them to each other.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "configs/ds_config.h"

namespace zt::sharding {

struct AdamWHyper {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool adamw_mode = true;  // decoupled; false: classic Adam with L2 (g += wd * p)
  bool bias_correction = true;
  int64_t step = 1;  // t >= 1, already incremented for this step
};

// The hyper-parameters of `optimizer` (configs/ds_config.h resolved adam_w_mode already).
AdamWHyper AdamWHyperFromConfig(const configs::OptimizerConfig& optimizer);

// Tensors of one chunk: same numel, contiguous, on one device; param/exp_avg/exp_avg_sq/grad in
// the master dtype. `param_copy` (optional, 16-bit or same dtype) receives the updated
// parameters cast to its dtype in the same step.
struct AdamWTensors {
  at::Tensor param;
  at::Tensor grad;
  at::Tensor exp_avg;
  at::Tensor exp_avg_sq;
  at::Tensor param_copy;
};

class PartitionOptimizer {
 public:
  virtual ~PartitionOptimizer() = default;
  // InvalidArgument naming the tensor when shapes, dtypes or devices disagree or the
  // implementation cannot run them.
  virtual absl::Status Step(const AdamWTensors& tensors, const AdamWHyper& hyper) = 0;
  // "aten" or "cpu_adamw/<isa>".
  virtual std::string Name() const = 0;
};

std::unique_ptr<PartitionOptimizer> MakeAtenAdamW();
// fp32 CPU tensors only; 16-bit copies must be bf16 or fp16.
std::unique_ptr<PartitionOptimizer> MakeCpuKernelAdamW(int num_threads = 0);
// The kernel for fp32 masters on the CPU, the ATen step otherwise.
std::unique_ptr<PartitionOptimizer> MakePartitionOptimizer(at::ScalarType master_dtype,
                                                           const at::Device& device);

}  // namespace zt::sharding
