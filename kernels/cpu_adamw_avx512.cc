// The AVX-512 path (F + BW + VL), 16 floats per vector. Compiled with -mavx512f -mavx512bw
// -mavx512vl -mfma (kernels/CMakeLists.txt); include nothing beyond what is here.
#include <immintrin.h>

#include "kernels/cpu_adamw_impl.h"

namespace zt::kernels::adamw_internal {
namespace {

// Not nf4_avx*.cc's ToBf16: NaN is 0x7FC0 here (as LibTorch), sign and payload kept there.
// Round to nearest even, NaN to 0x7FC0, as LibTorch's float -> bfloat16.
__m256i ToBf16(__m512 value) {
  const __m512i bits = _mm512_castps_si512(value);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
  rounded = _mm512_srli_epi32(rounded, 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(value, value, _CMP_UNORD_Q);
  rounded = _mm512_mask_mov_epi32(rounded, nan, _mm512_set1_epi32(0x7FC0));
  return _mm512_cvtepi32_epi16(rounded);
}

}  // namespace

// StepRangeAvx2 in 16-lane intrinsics: ISA files share no inline code (cpu_adamw_impl.h).
void StepRangeAvx512(const StepConstants& c, int64_t begin, int64_t end) {
  const __m512 beta1 = _mm512_set1_ps(c.beta1);
  const __m512 one_minus_beta1 = _mm512_set1_ps(c.one_minus_beta1);
  const __m512 beta2 = _mm512_set1_ps(c.beta2);
  const __m512 one_minus_beta2 = _mm512_set1_ps(c.one_minus_beta2);
  const __m512 eps = _mm512_set1_ps(c.eps);
  const __m512 step_size = _mm512_set1_ps(c.step_size);
  const __m512 inv_sqrt_bc2 = _mm512_set1_ps(c.inv_sqrt_bc2);
  const __m512 decay = _mm512_set1_ps(c.decay);
  const __m512 l2 = _mm512_set1_ps(c.l2);
  const bool use_l2 = c.l2 != 0.0f;
  int64_t i = begin;
  for (; i + 16 <= end; i += 16) {
    __m512 g = _mm512_loadu_ps(c.grad + i);
    __m512 p = _mm512_loadu_ps(c.param + i);
    if (use_l2) g = _mm512_fmadd_ps(l2, p, g);
    const __m512 m =
        _mm512_fmadd_ps(g, one_minus_beta1, _mm512_mul_ps(_mm512_loadu_ps(c.exp_avg + i), beta1));
    const __m512 v = _mm512_fmadd_ps(_mm512_mul_ps(g, g), one_minus_beta2,
                                     _mm512_mul_ps(_mm512_loadu_ps(c.exp_avg_sq + i), beta2));
    const __m512 denom = _mm512_fmadd_ps(_mm512_sqrt_ps(v), inv_sqrt_bc2, eps);
    p = _mm512_mul_ps(p, decay);
    p = _mm512_fnmadd_ps(step_size, _mm512_div_ps(m, denom), p);
    _mm512_storeu_ps(c.exp_avg + i, m);
    _mm512_storeu_ps(c.exp_avg_sq + i, v);
    _mm512_storeu_ps(c.param + i, p);
    if (c.copy_kind == kCopyBf16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c.copy + i), ToBf16(p));
    } else if (c.copy_kind == kCopyFp16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c.copy + i),
                          _mm512_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
  }
  StepRangeScalar(c, i, end);
}

}  // namespace zt::kernels::adamw_internal
