// Counts the inf and NaN elements of a floating-point buffer: the overflow check of fp16
// dynamic loss scaling (a step is skipped when any gradient element is not finite) and the
// finiteness guard on losses. Works on the bit pattern (all-ones exponent), so 16-bit formats
// are never widened and no temporary is allocated.
#pragma once

#include <cstdint>

#include "kernels/float_format.h"

namespace zt::kernels {

// CPU: `data` holds `numel` elements of `format`. Returns the number of non-finite elements.
int64_t CountNonFiniteCpu(const void* data, int64_t numel, FloatFormat format);

}  // namespace zt::kernels
