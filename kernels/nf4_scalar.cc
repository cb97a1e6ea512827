#include "kernels/half_rounding.h"
#include "kernels/nf4_impl.h"

namespace zt::kernels::nf4_internal {

uint16_t FloatToBf16Rne(float value) {
  return kernels::FloatToBf16Rne(value, NanSpelling::kKeepPayload);
}

uint16_t FloatToFp16Rne(float value) {
  return kernels::FloatToFp16Rne(value, NanSpelling::kKeepPayload);
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
