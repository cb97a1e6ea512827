#include "kernels/nf4.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernels/nf4_impl.h"

namespace zt::kernels {
namespace {

using nf4_internal::DequantArgs;

// Below this many elements per thread, starting more threads costs more than it saves.
constexpr int64_t kMinElementsPerThread = 1 << 16;

// get_4bit_type("nf4"): the table bitsandbytes hard-codes.
constexpr float kNf4Code[16] = {-1.0f,
                                -0.6961928009986877f,
                                -0.5250730514526367f,
                                -0.39491748809814453f,
                                -0.28444138169288635f,
                                -0.18477343022823334f,
                                -0.09105003625154495f,
                                0.0f,
                                0.07958029955625534f,
                                0.16093020141124725f,
                                0.24611230194568634f,
                                0.33791524171829224f,
                                0.44070982933044434f,
                                0.5626170039176941f,
                                0.7229568362236023f,
                                1.0f};

// get_4bit_type("fp4"): {0, 0.0625, 8, 12, 4, 6, 2, 3} and their negatives, divided by 12 in
// fp32 (Python's -0 is the integer 0, so code 8 is +0.0).
constexpr float kFp4Code[16] = {0.0f / 12,  0.0625f / 12,  8.0f / 12,  12.0f / 12,
                                4.0f / 12,  6.0f / 12,     2.0f / 12,  3.0f / 12,
                                0.0f / 12,  -0.0625f / 12, -8.0f / 12, -12.0f / 12,
                                -4.0f / 12, -6.0f / 12,    -2.0f / 12, -3.0f / 12};

// bitsandbytes' CPU dequantization table for FP4 holds code 8 as -0.0f.
constexpr float kFp4Lut[16] = {0.0f / 12,  0.0625f / 12,  8.0f / 12,  12.0f / 12,
                               4.0f / 12,  6.0f / 12,     2.0f / 12,  3.0f / 12,
                               -0.0f,      -0.0625f / 12, -8.0f / 12, -12.0f / 12,
                               -4.0f / 12, -6.0f / 12,    -2.0f / 12, -3.0f / 12};

// The codes in ascending value order (torch.argsort of the code book; FP4's two zeros keep
// their index order) and the fp32 midpoints between neighbours, as
// backends/default/ops.py::_get_4bit_quantize_bounds.
struct Bounds {
  uint8_t order[16];
  float midpoints[15];
};

Bounds MakeBounds(Quant4Type type) {
  static constexpr uint8_t kFp4Order[16] = {11, 10, 13, 12, 15, 14, 9, 0, 8, 1, 6, 7, 4, 5, 2, 3};
  const float* code = Quant4CodeBook(type);
  Bounds b;
  for (int i = 0; i < 16; ++i) b.order[i] = type == Quant4Type::kNf4 ? i : kFp4Order[i];
  for (int i = 0; i < 15; ++i) b.midpoints[i] = (code[b.order[i]] + code[b.order[i + 1]]) / 2;
  return b;
}

[[noreturn]] void Fail(const char* function, const char* message) {
  std::fprintf(stderr, "zt::kernels::%s: %s\n", function, message);
  std::abort();
}

float LoadAsFloat(const void* input, FloatFormat format, int64_t i) {
  if (format == FloatFormat::kF32) return static_cast<const float*>(input)[i];
  const uint16_t h = static_cast<const uint16_t*>(input)[i];
  uint32_t bits;
  if (format == FloatFormat::kBF16) {
    bits = static_cast<uint32_t>(h) << 16;
  } else {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    const uint32_t exponent = (h >> 10) & 0x1F;
    uint32_t mantissa = h & 0x3FF;
    if (exponent == 0x1F) {
      bits = sign | 0x7F800000 | (mantissa << 13);
    } else if (exponent != 0) {
      bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else {  // zero or subnormal: mantissa * 2^-24, exact in fp32
      const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
      std::memcpy(&bits, &magnitude, sizeof bits);
      bits |= sign;
    }
  }
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

int Bucketize(float s, const float* midpoints) {
  int index = 0;
  while (index < 15 && midpoints[index] < s) ++index;
  return index;
}

// One block: elements [begin, end), `begin` even.
void QuantizeBlock(const void* input, FloatFormat format, int64_t begin, int64_t end, bool partial,
                   const Bounds& bounds, uint8_t* packed, float* absmax_out) {
  float absmax = 0.0f;
  for (int64_t i = begin; i < end; ++i) {
    absmax = std::max(absmax, std::fabs(LoadAsFloat(input, format, i)));
  }
  // torch's clamp(min=1e-38) of the divisor; bitsandbytes stores it clamped only for the
  // partial block, and divides there instead of multiplying by the reciprocal.
  const float clamped = std::max(absmax, 1e-38f);
  const float reciprocal = 1.0f / clamped;
  *absmax_out = partial ? clamped : absmax;
  for (int64_t i = begin; i < end; i += 2) {
    uint8_t byte = 0;
    for (int64_t k = 0; k < 2; ++k) {
      float s = 0.0f;  // the padding of an odd numel
      if (i + k < end) {
        const float x = LoadAsFloat(input, format, i + k);
        s = std::clamp(partial ? x / clamped : x * reciprocal, -1.0f, 1.0f);
      }
      const uint8_t code = bounds.order[Bucketize(s, bounds.midpoints)];
      byte = static_cast<uint8_t>(byte | (k == 0 ? code << 4 : code));
    }
    packed[i >> 1] = byte;
  }
}

}  // namespace

const char* Quant4TypeName(Quant4Type type) { return type == Quant4Type::kNf4 ? "nf4" : "fp4"; }

bool IsQuant4Blocksize(int64_t blocksize) {
  return blocksize >= 32 && blocksize <= 4096 && (blocksize & (blocksize - 1)) == 0;
}

int64_t Quant4Blocks(int64_t numel, int64_t blocksize) {
  return (numel + blocksize - 1) / blocksize;
}

const float* Quant4CodeBook(Quant4Type type) {
  return type == Quant4Type::kNf4 ? kNf4Code : kFp4Code;
}

void Quantize4bitCpu(const void* input, FloatFormat format, int64_t numel, int64_t blocksize,
                     Quant4Type type, uint8_t* packed, float* absmax, int num_threads) {
  if (!IsQuant4Blocksize(blocksize)) Fail("Quantize4bitCpu", "blocksize not in 32..4096");
  if (numel <= 0) return;
  if (input == nullptr || packed == nullptr || absmax == nullptr) {
    Fail("Quantize4bitCpu", "null buffer");
  }
  const Bounds bounds = MakeBounds(type);
  const int64_t blocks = Quant4Blocks(numel, blocksize);
  const int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
#pragma omp parallel for num_threads(threads) schedule(static) if (numel > kMinElementsPerThread)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * blocksize;
    const int64_t end = std::min(begin + blocksize, numel);
    QuantizeBlock(input, format, begin, end, end - begin < blocksize, bounds, packed, absmax + b);
  }
}

CpuIsa Dequantize4bitCpu(const uint8_t* packed, const float* absmax, int64_t numel,
                         int64_t blocksize, Quant4Type type, void* out, FloatFormat format,
                         const Dequantize4bitOptions& options) {
  if (!IsQuant4Blocksize(blocksize)) Fail("Dequantize4bitCpu", "blocksize not in 32..4096");
  const CpuIsa isa = options.force_isa ? options.isa : BestCpuIsa();
  if (options.force_isa && !CpuSupports(isa)) Fail("Dequantize4bitCpu", "forced isa unsupported");
  if (numel <= 0) return isa;
  if (packed == nullptr || absmax == nullptr || out == nullptr) {
    Fail("Dequantize4bitCpu", "null buffer");
  }
  const DequantArgs args{packed,
                         absmax,
                         type == Quant4Type::kNf4 ? kNf4Code : kFp4Lut,
                         blocksize,
                         out,
                         format == FloatFormat::kF32    ? nf4_internal::kOutF32
                         : format == FloatFormat::kBF16 ? nf4_internal::kOutBf16
                                                        : nf4_internal::kOutFp16};
  auto* range = &nf4_internal::DequantRangeScalar;
#if defined(__x86_64__)
  if (isa == CpuIsa::kAvx512) range = &nf4_internal::DequantRangeAvx512;
  if (isa == CpuIsa::kAvx2) range = &nf4_internal::DequantRangeAvx2;
#endif
  const int max_threads = options.num_threads > 0 ? options.num_threads : omp_get_max_threads();
  const int64_t useful = std::max<int64_t>(1, numel / kMinElementsPerThread);
  const int threads = static_cast<int>(std::min<int64_t>(max_threads, useful));
  // Ranges start on multiples of 64 elements (whole vectors, whole bytes).
  const int64_t chunk = ((numel + threads - 1) / threads + 63) / 64 * 64;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int t = 0; t < threads; ++t) {
    const int64_t begin = std::min(numel, t * chunk);
    const int64_t end = std::min(numel, begin + chunk);
    if (begin < end) range(args, begin, end);
  }
  return isa;
}

}  // namespace zt::kernels
