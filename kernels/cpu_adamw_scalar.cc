// The portable path, and the tails of the vector paths. Compiled with the baseline flags.
#include <cmath>
#include <cstring>

#include "kernels/cpu_adamw_impl.h"

namespace zt::kernels::adamw_internal {

uint16_t FloatToBf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (std::isnan(value)) return 0x7FC0;
  bits += 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

uint16_t FloatToFp16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const uint32_t sign = (bits >> 16) & 0x8000;
  uint32_t magnitude = bits & 0x7FFFFFFF;
  if (magnitude >= 0x47800000) {  // >= 65536, inf or NaN: inf, or a quiet NaN
    return static_cast<uint16_t>(sign | (magnitude > 0x7F800000 ? 0x7E00 : 0x7C00));
  }
  if (magnitude < 0x38800000) {  // below fp16's smallest normal: subnormal or zero
    // Adding 0.5f aligns the value's 2^-24 units with the float's last mantissa bits, and the
    // FPU's own round-to-nearest-even does the rounding.
    float shifted;
    std::memcpy(&shifted, &magnitude, sizeof shifted);
    shifted += 0.5f;
    uint32_t shifted_bits;
    std::memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
    return static_cast<uint16_t>(sign | (shifted_bits - 0x3F000000));
  }
  const uint32_t odd = (magnitude >> 13) & 1;
  magnitude += 0xC8000FFF + odd;  // re-bias the exponent (127 -> 15) and round to nearest even
  return static_cast<uint16_t>(sign | (magnitude >> 13));
}

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
