#include "kernels/nonfinite_count.h"

#include <cstring>

namespace zt::kernels {
namespace {

// A float is inf or NaN exactly when its exponent field is all ones.
template <typename Bits, Bits kExponentMask>
int64_t CountAllOnesExponent(const void* data, int64_t numel) {
  const auto* bits = static_cast<const Bits*>(data);
  int64_t count = 0;
  for (int64_t i = 0; i < numel; ++i) {
    count += (bits[i] & kExponentMask) == kExponentMask;
  }
  return count;
}

}  // namespace

const char* FloatFormatName(FloatFormat format) {
  switch (format) {
    case FloatFormat::kF32: return "f32";
    case FloatFormat::kF16: return "f16";
    case FloatFormat::kBF16: return "bf16";
  }
  return "unknown";
}

int64_t CountNonFiniteCpu(const void* data, int64_t numel, FloatFormat format) {
  switch (format) {
    case FloatFormat::kF32: return CountAllOnesExponent<uint32_t, 0x7F800000u>(data, numel);
    case FloatFormat::kF16: return CountAllOnesExponent<uint16_t, 0x7C00u>(data, numel);
    case FloatFormat::kBF16: return CountAllOnesExponent<uint16_t, 0x7F80u>(data, numel);
  }
  return 0;
}

}  // namespace zt::kernels
