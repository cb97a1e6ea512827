// bitsandbytes' 4-bit blockwise quantization (NF4 and FP4) on the CPU, byte for byte as
// bitsandbytes 0.50 quantize_4bit / dequantize_4bit on the CPU (docs/quantize.md
// lists every rule). A tensor of `numel` elements, flattened row-major, is cut into blocks of
// `blocksize` elements (the last may be partial); each block keeps its fp32 absmax and one
// 4-bit code per element, two codes per byte, element 2j in the high nibble.
//
// Quantization (scalar; it is the reference, and runs once per checkpoint):
//   full block:    absmax = max|x|; s = clamp(x * (1 / max(absmax, 1e-38f)), -1, 1)
//   partial block: absmax = max(max|x|, 1e-38f) (stored clamped); s = clamp(x / absmax, -1, 1)
//   code = sort_order[#{midpoints < s}]  (torch.bucketize: a tie goes to the lower value)
// with fp32 midpoints (c[i] + c[i+1]) / 2 of the sorted code book; an odd numel pads the last
// low nibble with the code of 0.0 (NF4 7, FP4 0), as bitsandbytes pads s with 0.
// Dequantization: out = round_to_nearest_even<format>(lut[code] * absmax[block]) in fp32; the
// lut is bitsandbytes' CPU kernel's, whose FP4 code 8 is -0.0 (the stored quant_map has +0.0).
// Dequantization has AVX-512 and AVX2 paths chosen at run time by CPUID, bit-identical to the
// scalar path. Raw pointers, no LibTorch; buffers may be unaligned; thread-safe on disjoint
// outputs. Preconditions (programmer errors: message to stderr, abort): a valid blocksize
// (IsQuant4Blocksize), non-null buffers when numel > 0, a forced isa that CpuSupports().
#pragma once

#include <cstdint>

#include "kernels/cpu_adamw.h"  // CpuIsa, CpuSupports, BestCpuIsa
#include "kernels/float_format.h"

namespace zt::kernels {

enum class Quant4Type { kNf4, kFp4 };

const char* Quant4TypeName(Quant4Type type);  // "nf4", "fp4"

inline constexpr int64_t kDefaultQuant4Blocksize = 64;

// 32, 64, ..., 4096: the block sizes bitsandbytes' quantize_4bit accepts.
bool IsQuant4Blocksize(int64_t blocksize);

// ceil(numel / blocksize): entries of the absmax array.
int64_t Quant4Blocks(int64_t numel, int64_t blocksize);

// (numel + 1) / 2: bytes of packed codes.
inline int64_t Quant4PackedBytes(int64_t numel) { return (numel + 1) / 2; }

// The 16 fp32 values bitsandbytes stores as `quant_map` (functional.get_4bit_type), indexed by
// code. NF4 is sorted; FP4 is in bit-pattern order (sign in bit 3, code 8 = +0.0).
const float* Quant4CodeBook(Quant4Type type);

// Quantizes `numel` elements of `format` at `input` into `packed` (Quant4PackedBytes(numel)
// bytes) and `absmax` (Quant4Blocks(numel, blocksize) floats). `num_threads` 0 = OpenMP's
// default; the result does not depend on it.
void Quantize4bitCpu(const void* input, FloatFormat format, int64_t numel, int64_t blocksize,
                     Quant4Type type, uint8_t* packed, float* absmax, int num_threads = 0);

struct Dequantize4bitOptions {
  int num_threads = 0;           // 0 = OpenMP's default
  bool force_isa = false;        // use `isa` instead of BestCpuIsa() (tests, benchmarks)
  CpuIsa isa = CpuIsa::kScalar;  // must be supported when forced
};

// Writes `numel` elements of `format` to `out` from `packed` and fp32 `absmax` (decode a
// double-quantized absmax first: double_quant.h). Returns the path that ran.
CpuIsa Dequantize4bitCpu(const uint8_t* packed, const float* absmax, int64_t numel,
                         int64_t blocksize, Quant4Type type, void* out, FloatFormat format,
                         const Dequantize4bitOptions& options = {});

}  // namespace zt::kernels
