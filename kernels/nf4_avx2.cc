// AVX2 (+F16C) dequantization: 8 elements (4 packed bytes) per step; the 16-entry table is two
// 8-float permutes blended on the code's bit 3; fp32 scale, round to nearest even.
#include <immintrin.h>

#include "kernels/nf4_impl.h"

namespace zt::kernels::nf4_internal {
namespace {

// Not cpu_adamw_avx*.cc's ToBf16: NaN keeps its sign and payload here, 0x7FC0 there.
__m128i ToBf16(__m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
  rounded = _mm256_srli_epi32(rounded, 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
  const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
  const __m256i chosen = _mm256_castps_si256(
      _mm256_blendv_ps(_mm256_castsi256_ps(rounded), _mm256_castsi256_ps(quiet), nan));
  // Every lane fits 16 bits, so the saturating pack is exact; it interleaves the 128-bit halves.
  const __m256i packed = _mm256_packus_epi32(chosen, chosen);
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(packed, 0x08));
}

}  // namespace

// Stores as DequantRangeAvx512's in 8-lane intrinsics: ISA files share no inline code (nf4_impl.h).
void DequantRangeAvx2(const DequantArgs& a, int64_t begin, int64_t end) {
  const __m256 lut_low = _mm256_loadu_ps(a.lut);
  const __m256 lut_high = _mm256_loadu_ps(a.lut + 8);
  const __m128i low_nibble = _mm_set1_epi8(0x0F);
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const __m128i raw = _mm_loadu_si32(a.packed + i / 2);
    const __m128i high = _mm_and_si128(_mm_srli_epi16(raw, 4), low_nibble);
    const __m128i low = _mm_and_si128(raw, low_nibble);
    const __m256i codes = _mm256_cvtepu8_epi32(_mm_unpacklo_epi8(high, low));
    const __m256 upper = _mm256_castsi256_ps(_mm256_cmpgt_epi32(codes, _mm256_set1_epi32(7)));
    const __m256 value = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lut_low, codes),
                                          _mm256_permutevar8x32_ps(lut_high, codes), upper);
    const __m256 v = _mm256_mul_ps(value, _mm256_set1_ps(a.absmax[i / a.blocksize]));
    if (a.out_kind == kOutF32) {
      _mm256_storeu_ps(static_cast<float*>(a.out) + i, v);
    } else if (a.out_kind == kOutBf16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(a.out) + i), ToBf16(v));
    } else {
      const __m128i half = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(a.out) + i), half);
    }
  }
  DequantRangeScalar(a, i, end);
}

}  // namespace zt::kernels::nf4_internal
