// The portable path, and the tails of the vector paths. Compiled with the baseline flags.
#include <cmath>

#include "kernels/cpu_adamw_impl.h"
#include "kernels/half_rounding.h"

namespace zt::kernels::adamw_internal {

uint16_t FloatToBf16(float value) { return FloatToBf16Rne(value, NanSpelling::kCanonical); }

uint16_t FloatToFp16(float value) { return FloatToFp16Rne(value, NanSpelling::kCanonical); }

void StepRangeScalar(const StepConstants& c, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    float g = c.grad[i];
    float p = c.param[i];
    if (c.l2 != 0.0f) g = g + c.l2 * p;
    const float m = c.exp_avg[i] * c.beta1 + g * c.one_minus_beta1;
    const float v = c.exp_avg_sq[i] * c.beta2 + (g * g) * c.one_minus_beta2;
    const float denom = std::sqrt(v) * c.inv_sqrt_bc2 + c.eps;
    p = p * c.decay;
    p = p - c.step_size * (m / denom);
    c.exp_avg[i] = m;
    c.exp_avg_sq[i] = v;
    c.param[i] = p;
    if (c.copy_kind == kCopyBf16) c.copy[i] = FloatToBf16(p);
    if (c.copy_kind == kCopyFp16) c.copy[i] = FloatToFp16(p);
  }
}

}  // namespace zt::kernels::adamw_internal
