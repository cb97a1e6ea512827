// AVX-512 (F+BW+VL) dequantization: 16 elements (8 packed bytes) per step, the code looked up
// with one permute, scaled in fp32 and rounded to nearest even as the scalar path does.
#include <immintrin.h>

#include "kernels/nf4_impl.h"

namespace zt::kernels::nf4_internal {
namespace {

// Not cpu_adamw_avx*.cc's ToBf16: NaN keeps its sign and payload here, 0x7FC0 there.
__m256i ToBf16(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
  rounded = _mm512_srli_epi32(rounded, 16);
  const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet));
}

}  // namespace

// Stores as DequantRangeAvx2's in 16-lane intrinsics: ISA files share no inline code (nf4_impl.h).
void DequantRangeAvx512(const DequantArgs& a, int64_t begin, int64_t end) {
  const __m512 lut = _mm512_loadu_ps(a.lut);
  const __m128i low_nibble = _mm_set1_epi8(0x0F);
  int64_t i = begin;
  for (; i + 16 <= end; i += 16) {
    const __m128i raw = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a.packed + i / 2));
    const __m128i high = _mm_and_si128(_mm_srli_epi16(raw, 4), low_nibble);
    const __m128i low = _mm_and_si128(raw, low_nibble);
    const __m512i codes = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(high, low));
    const __m512 scale = _mm512_set1_ps(a.absmax[i / a.blocksize]);
    const __m512 v = _mm512_mul_ps(_mm512_permutexvar_ps(codes, lut), scale);
    if (a.out_kind == kOutF32) {
      _mm512_storeu_ps(static_cast<float*>(a.out) + i, v);
    } else if (a.out_kind == kOutBf16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint16_t*>(a.out) + i), ToBf16(v));
    } else {
      const __m256i half = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint16_t*>(a.out) + i), half);
    }
  }
  DequantRangeScalar(a, i, end);
}

}  // namespace zt::kernels::nf4_internal
