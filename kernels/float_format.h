// Storage formats of the floating-point buffers kernels work on, independent of LibTorch so
// the same kernels build against any LibTorch (or none).
#pragma once

#include <cstddef>

namespace zt::kernels {

enum class FloatFormat { kF32, kF16, kBF16 };

constexpr size_t BytesPerElement(FloatFormat format) {
  return format == FloatFormat::kF32 ? 4 : 2;
}

const char* FloatFormatName(FloatFormat format);

}  // namespace zt::kernels
