#include "kernels/nonfinite_count.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

namespace zt::kernels {
namespace {

// Reference: std::isfinite on the value the bits encode.
float DecodeBf16(uint16_t bits) {
  uint32_t widened = uint32_t{bits} << 16;
  float value;
  std::memcpy(&value, &widened, 4);
  return value;
}

float DecodeF16(uint16_t bits) {
  const int exponent = (bits >> 10) & 0x1F;
  const int mantissa = bits & 0x3FF;
  const float sign = (bits & 0x8000) ? -1.0f : 1.0f;
  if (exponent == 0x1F) return mantissa ? std::numeric_limits<float>::quiet_NaN() : sign * INFINITY;
  if (exponent == 0) return sign * std::ldexp(float(mantissa), -24);
  return sign * std::ldexp(float(mantissa | 0x400), exponent - 25);
}

TEST(NonFiniteCountTest, Float32) {
  std::vector<float> values = {0.0f, -0.0f, 1.0f, std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::denorm_min(), INFINITY, -INFINITY,
                               std::numeric_limits<float>::quiet_NaN(),
                               -std::numeric_limits<float>::signaling_NaN()};
  EXPECT_EQ(CountNonFiniteCpu(values.data(), values.size(), FloatFormat::kF32), 4);
  EXPECT_EQ(CountNonFiniteCpu(values.data(), 5, FloatFormat::kF32), 0);
}

TEST(NonFiniteCountTest, SixteenBitFormatsAgreeWithIsFiniteOnEveryBitPattern) {
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  int64_t bf16_expected = 0;
  int64_t f16_expected = 0;
  for (uint16_t bits : all) {
    bf16_expected += !std::isfinite(DecodeBf16(bits));
    f16_expected += !std::isfinite(DecodeF16(bits));
  }
  EXPECT_EQ(CountNonFiniteCpu(all.data(), all.size(), FloatFormat::kBF16), bf16_expected);
  EXPECT_EQ(CountNonFiniteCpu(all.data(), all.size(), FloatFormat::kF16), f16_expected);
  EXPECT_EQ(bf16_expected, 2 * 128);   // 2 signs x (1 inf + 127 NaN payloads)
  EXPECT_EQ(f16_expected, 2 * 1024);
}

TEST(NonFiniteCountTest, EmptyBuffer) {
  EXPECT_EQ(CountNonFiniteCpu(nullptr, 0, FloatFormat::kF16), 0);
}

}  // namespace
}  // namespace zt::kernels
