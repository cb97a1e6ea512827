// CUDA side of nf4.h's dequantization, on raw device pointers and a stream (no LibTorch):
// out[i] = round_to_nearest_even<format>(lut[code_i] * absmax[i / blocksize]) with the same lut
// as the CPU path (FP4 code 8 as -0.0), so its output equals Dequantize4bitCpu's bit for bit.
// The nested variant decodes a double-quantized absmax on the fly as double_quant.h does:
// absmax[b] = nested_code[codes[b]] * nested_absmax[b / 256] + offset, two fp32 roundings.
// Element 2j is the high nibble of packed byte j; a partial last block and an odd `numel`
// (the last byte's low nibble unused) are handled. Asynchronous; returns the launch error
// (cudaErrorInvalidValue for a blocksize IsQuant4Blocksize refuses). `out` may be any
// address aligned for its element type.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/float_format.h"
#include "kernels/nf4.h"

namespace zt::kernels {

// `packed` (Quant4PackedBytes(numel) bytes) and `absmax` (Quant4Blocks(numel, blocksize)
// floats) are device pointers, as is `out` (numel elements of `format`).
cudaError_t Dequantize4bitCuda(const uint8_t* packed, const float* absmax, int64_t numel,
                               int64_t blocksize, Quant4Type type, void* out, FloatFormat format,
                               cudaStream_t stream);

// As Dequantize4bitCuda with a double-quantized absmax: `absmax_codes` (one byte per block),
// `nested_absmax` (ceil(blocks / 256) floats) and `nested_code` (256 floats, the stored
// nested_quant_map) are device pointers; `offset` is QuantState.offset.
cudaError_t Dequantize4bitNestedCuda(const uint8_t* packed, const uint8_t* absmax_codes,
                                     const float* nested_absmax, const float* nested_code,
                                     float offset, int64_t numel, int64_t blocksize,
                                     Quant4Type type, void* out, FloatFormat format,
                                     cudaStream_t stream);

}  // namespace zt::kernels
