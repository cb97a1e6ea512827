#include <cstring>

#include "kernels/nf4_impl.h"

namespace zt::kernels::nf4_internal {

uint16_t FloatToBf16Rne(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

uint16_t FloatToFp16Rne(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const uint32_t sign = (bits >> 16) & 0x8000;
  uint32_t magnitude = bits & 0x7FFFFFFF;
  if (magnitude > 0x7F800000) {  // NaN: quiet, top payload bits kept (as F16C's vcvtps2ph)
    return static_cast<uint16_t>(sign | 0x7E00 | ((magnitude >> 13) & 0x3FF));
  }
  if (magnitude >= 0x477FF000) return static_cast<uint16_t>(sign | 0x7C00);  // rounds to inf
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

void DequantRangeScalar(const DequantArgs& a, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    const uint8_t byte = a.packed[i >> 1];
    const int code = (i & 1) ? (byte & 0x0F) : (byte >> 4);
    const float value = a.lut[code] * a.absmax[i / a.blocksize];
    if (a.out_kind == kOutF32) {
      static_cast<float*>(a.out)[i] = value;
    } else if (a.out_kind == kOutBf16) {
      static_cast<uint16_t*>(a.out)[i] = FloatToBf16Rne(value);
    } else {
      static_cast<uint16_t*>(a.out)[i] = FloatToFp16Rne(value);
    }
  }
}

}  // namespace zt::kernels::nf4_internal
