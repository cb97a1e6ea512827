// The AVX2 path (+ FMA, F16C), 8 floats per vector. Compiled with -mavx2 -mfma -mf16c
// (kernels/CMakeLists.txt); include nothing beyond what is here.
#include <immintrin.h>

#include "kernels/cpu_adamw_impl.h"

namespace zt::kernels::adamw_internal {
namespace {

// Not nf4_avx*.cc's ToBf16: NaN is 0x7FC0 here (as LibTorch), sign and payload kept there.
// Round to nearest even, NaN to 0x7FC0, as LibTorch's float -> bfloat16.
__m128i ToBf16(__m256 value) {
  const __m256i bits = _mm256_castps_si256(value);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
  rounded = _mm256_srli_epi32(rounded, 16);
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(value, value, _CMP_UNORD_Q));
  rounded = _mm256_blendv_epi8(rounded, _mm256_set1_epi32(0x7FC0), nan);
  // Every lane is <= 0xFFFF, so the saturating pack is exact and keeps the order.
  return _mm_packus_epi32(_mm256_castsi256_si128(rounded), _mm256_extracti128_si256(rounded, 1));
}

}  // namespace

// StepRangeAvx512 in 8-lane intrinsics: ISA files share no inline code (cpu_adamw_impl.h).
void StepRangeAvx2(const StepConstants& c, int64_t begin, int64_t end) {
  const __m256 beta1 = _mm256_set1_ps(c.beta1);
  const __m256 one_minus_beta1 = _mm256_set1_ps(c.one_minus_beta1);
  const __m256 beta2 = _mm256_set1_ps(c.beta2);
  const __m256 one_minus_beta2 = _mm256_set1_ps(c.one_minus_beta2);
  const __m256 eps = _mm256_set1_ps(c.eps);
  const __m256 step_size = _mm256_set1_ps(c.step_size);
  const __m256 inv_sqrt_bc2 = _mm256_set1_ps(c.inv_sqrt_bc2);
  const __m256 decay = _mm256_set1_ps(c.decay);
  const __m256 l2 = _mm256_set1_ps(c.l2);
  const bool use_l2 = c.l2 != 0.0f;
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    __m256 g = _mm256_loadu_ps(c.grad + i);
    __m256 p = _mm256_loadu_ps(c.param + i);
    if (use_l2) g = _mm256_fmadd_ps(l2, p, g);
    const __m256 m =
        _mm256_fmadd_ps(g, one_minus_beta1, _mm256_mul_ps(_mm256_loadu_ps(c.exp_avg + i), beta1));
    const __m256 v = _mm256_fmadd_ps(_mm256_mul_ps(g, g), one_minus_beta2,
                                     _mm256_mul_ps(_mm256_loadu_ps(c.exp_avg_sq + i), beta2));
    const __m256 denom = _mm256_fmadd_ps(_mm256_sqrt_ps(v), inv_sqrt_bc2, eps);
    p = _mm256_mul_ps(p, decay);
    p = _mm256_fnmadd_ps(step_size, _mm256_div_ps(m, denom), p);
    _mm256_storeu_ps(c.exp_avg + i, m);
    _mm256_storeu_ps(c.exp_avg_sq + i, v);
    _mm256_storeu_ps(c.param + i, p);
    if (c.copy_kind == kCopyBf16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(c.copy + i), ToBf16(p));
    } else if (c.copy_kind == kCopyFp16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(c.copy + i),
                       _mm256_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
  }
  StepRangeScalar(c, i, end);
}

}  // namespace zt::kernels::adamw_internal
