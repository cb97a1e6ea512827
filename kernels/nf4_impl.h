// Internal to nf4*.cc: the per-ISA dequantization range kernels. The ISA files are compiled with
// their own target flags and include nothing but this header and <immintrin.h> (see
// cpu_adamw_impl.h for why).
#pragma once

#include <cstdint>

namespace zt::kernels::nf4_internal {

enum OutKind : int { kOutF32 = 0, kOutBf16 = 1, kOutFp16 = 2 };

struct DequantArgs {
  const uint8_t* packed;
  const float* absmax;
  const float* lut;  // 16 entries, indexed by code
  int64_t blocksize;
  void* out;
  int out_kind;
};

// One range kernel per ISA file as in cpu_adamw_impl.h; another kernel's, so nothing to share.
// Elements [begin, end) of the tensor; `begin` is a multiple of 16 (vector paths load whole
// bytes, and a 16-element vector never straddles a block since 16 divides every blocksize).
void DequantRangeScalar(const DequantArgs& a, int64_t begin, int64_t end);
void DequantRangeAvx2(const DequantArgs& a, int64_t begin, int64_t end);
void DequantRangeAvx512(const DequantArgs& a, int64_t begin, int64_t end);

// Round-to-nearest-even conversions (NaN: a quiet NaN of the same sign), shared by the scalar
// path and the vector tails.
uint16_t FloatToBf16Rne(float value);
uint16_t FloatToFp16Rne(float value);

}  // namespace zt::kernels::nf4_internal
