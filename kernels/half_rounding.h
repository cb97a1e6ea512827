// fp32 -> bf16 / fp16 with round-to-nearest-even, bit-exact with the vector instructions the
// kernels' SIMD paths use, so scalar paths and vector tails agree. Header only, torch-free.
// NaN has two spellings among the kernels: CPU AdamW's parameter copies write the canonical
// quiet NaN (as LibTorch's conversion), NF4 dequantization keeps the sign and top payload bits
// (as F16C's vcvtps2ph / a truncating bf16 shift); everything else is the same rounding.
#pragma once

#include <cstdint>
#include <cstring>

namespace zt::kernels {

enum class NanSpelling { kCanonical, kKeepPayload };

inline uint16_t FloatToBf16Rne(float value, NanSpelling nan) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7FFFFFFF) > 0x7F800000) {
    return nan == NanSpelling::kCanonical ? 0x7FC0 : static_cast<uint16_t>((bits >> 16) | 0x40);
  }
  bits += 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

inline uint16_t FloatToFp16Rne(float value, NanSpelling nan) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const uint32_t sign = (bits >> 16) & 0x8000;
  uint32_t magnitude = bits & 0x7FFFFFFF;
  if (magnitude > 0x7F800000) {  // NaN: a quiet NaN of the same sign
    const uint32_t payload = nan == NanSpelling::kCanonical ? 0 : (magnitude >> 13) & 0x3FF;
    return static_cast<uint16_t>(sign | 0x7E00 | payload);
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

}  // namespace zt::kernels
