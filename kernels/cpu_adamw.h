// AdamW (and Adam with L2 weight decay) on the CPU over one flat fp32 partition: the optimizer
// step of ZeRO-Offload. The math is DeepSpeedCPUAdam's (docs/training.md), which is also
// torch.optim.AdamW's / torch.optim.Adam's:
//
//   bc1 = 1 - beta1^t, bc2 = 1 - beta2^t          (both 1 without bias_correction)
//   g  = g + weight_decay * p                      (L2 mode only, adamw_mode = false)
//   m  = beta1 * m + (1 - beta1) * g
//   v  = beta2 * v + (1 - beta2) * g * g
//   p  = p * (1 - lr * weight_decay)               (AdamW mode only, pre-update p)
//   p  = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
//
// State is fp32; a 16-bit copy of the updated parameters (bf16 or fp16, rounded to nearest
// even, as LibTorch's casts) can be written in the same pass (the copy sent back to the GPU).
// Vectorised paths (x86-64): AVX-512 (F+BW+VL) and AVX2 (+FMA+F16C), chosen at run time from CPUID,
// plus a portable scalar loop; all compute in fp32 and agree to within rounding (FMA).
// Multi-threaded with OpenMP over contiguous, 64-element aligned ranges.
//
// Raw pointers, no LibTorch. Not thread-safe on overlapping buffers; buffers may be unaligned.
#pragma once

#include <cstdint>

#include "kernels/float_format.h"

namespace zt::kernels {

enum class CpuIsa { kScalar, kAvx2, kAvx512 };

const char* CpuIsaName(CpuIsa isa);  // "scalar", "avx2", "avx512"

// Whether this CPU and OS can run `isa` (CPUID feature bits and the XSAVE-enabled state).
bool CpuSupports(CpuIsa isa);

// The fastest supported path.
CpuIsa BestCpuIsa();

struct AdamWHyperParams {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  bool adamw_mode = true;  // decoupled decay; false = classic Adam with L2
  bool bias_correction = true;
  int64_t step = 1;  // t, counted from 1 and incremented before the update
};

struct AdamWBuffers {
  float* param = nullptr;  // updated in place
  const float* grad = nullptr;
  float* exp_avg = nullptr;     // m, updated in place
  float* exp_avg_sq = nullptr;  // v, updated in place
  int64_t numel = 0;
  // Optional: receives the updated parameters as 16-bit floats (kBF16 or kF16).
  void* param_copy = nullptr;
  FloatFormat copy_format = FloatFormat::kBF16;
};

struct CpuAdamWOptions {
  int num_threads = 0;           // 0 = OpenMP's default (OMP_NUM_THREADS or the core count)
  bool force_isa = false;        // use `isa` instead of BestCpuIsa() (tests, benchmarks)
  CpuIsa isa = CpuIsa::kScalar;  // must be supported when forced
};

// One step over `buffers`. Preconditions (programmer errors, checked with a message to stderr
// and abort): non-null fp32 pointers when numel > 0, step >= 1, copy_format kBF16 or kF16 when
// a copy is requested, a forced isa that CpuSupports(). Returns the path that ran.
CpuIsa CpuAdamWStep(const AdamWBuffers& buffers, const AdamWHyperParams& hyper,
                    const CpuAdamWOptions& options = {});

}  // namespace zt::kernels
