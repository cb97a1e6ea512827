// Internal to cpu_adamw*.cc: the per-step constants and the per-ISA range kernels. The ISA
// files are compiled with their own target flags and must include nothing but this header and
// <immintrin.h> (an inline function instantiated there could otherwise be merged into code
// that runs on CPUs without those instructions).
#pragma once

#include <cstdint>

namespace zt::kernels::adamw_internal {

enum CopyKind : int { kNoCopy = 0, kCopyBf16 = 1, kCopyFp16 = 2 };

struct StepConstants {
  float* param;
  const float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  uint16_t* copy;  // nullptr when copy_kind == kNoCopy
  int copy_kind;
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float eps;
  float step_size;     // lr / bc1
  float inv_sqrt_bc2;  // 1 / sqrt(bc2)
  float decay;         // 1 - lr * weight_decay (AdamW mode), else 1
  float l2;            // weight_decay (L2 mode), else 0
};

// Elements [begin, end) of the buffers in `c`.
void StepRangeScalar(const StepConstants& c, int64_t begin, int64_t end);
void StepRangeAvx2(const StepConstants& c, int64_t begin, int64_t end);
void StepRangeAvx512(const StepConstants& c, int64_t begin, int64_t end);

// Round-to-nearest-even conversions shared by the scalar path and the vector tails.
uint16_t FloatToBf16(float value);
uint16_t FloatToFp16(float value);

}  // namespace zt::kernels::adamw_internal
