// bitsandbytes' double quantization of 4-bit absmax values ("nested", compress_statistics=True)
// on the CPU, byte for byte as bitsandbytes 0.50 (docs/quantize.md):
//   offset = mean(absmax)             torch's float32 CPU sum order (TorchCpuMeanF32), / n
//   codes, nested_absmax = Quantize8bitBlockwiseCpu(absmax - offset, 256, DynamicMap8bit())
// and the decoding dequantize_4bit does first: absmax = code[q] * nested_absmax[i / 256] +
// offset, two fp32 roundings (no fused multiply-add).
// Raw pointers, no LibTorch, single-threaded (a tensor's absmax is 1/64 of its elements).
// Preconditions (programmer errors, abort): non-null buffers when n > 0, blocksize > 0.
#pragma once

#include <cstdint>

namespace zt::kernels {

inline constexpr int64_t kNestedBlocksize = 256;

// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 sorted fp32 values,
// the nested_quant_map bitsandbytes stores.
const float* DynamicMap8bit();

// torch.Tensor.mean() of `n` contiguous floats on the CPU, bit for bit: torch's cascade sum over
// 8-wide float vectors (4-way interleaved, chunked in levels of 16), the scalar tail, the lanes,
// then a float division by n. From 32768 elements on torch splits the sum across its
// `torch_threads` intra-op threads (torch.get_num_threads()), which changes the order; pass the
// count of the torch process to match.
float TorchCpuMeanF32(const float* data, int64_t n, int torch_threads = 1);

// bitsandbytes' CPU quantize_blockwise (csrc/cpu_ops.cpp): per block of `blocksize`, absmax =
// max|x| (0 gives codes 0); s = clamp(x * (1 / absmax), -1, 1); code = lut[(uint16)(((s + 1) *
// 0.5) * 65535 + 0.5)] where lut[i] counts the code's fp32 midpoints below -1 + 2i / 65535.
// `code` holds 256 sorted values. Writes n codes and ceil(n / blocksize) absmax values.
void Quantize8bitBlockwiseCpu(const float* input, int64_t n, int64_t blocksize, const float* code,
                              uint8_t* codes, float* absmax);

struct DoubleQuantized {
  float offset = 0.0f;  // the mean subtracted before quantizing
};

// Double-quantizes `n_blocks` fp32 absmax values: `codes` gets n_blocks bytes, `nested_absmax`
// ceil(n_blocks / 256) floats; the code book is DynamicMap8bit(); `torch_threads` as for
// TorchCpuMeanF32 (it matters from 32768 blocks on).
DoubleQuantized DoubleQuantizeAbsmaxCpu(const float* absmax, int64_t n_blocks, uint8_t* codes,
                                        float* nested_absmax, int torch_threads = 1);

// Decodes a double-quantized absmax: out[i] = nested_code[codes[i]] * nested_absmax[i / 256]
// + offset, `nested_code` being the stored nested_quant_map (256 floats).
void DequantizeNestedAbsmaxCpu(const uint8_t* codes, const float* nested_absmax,
                               const float* nested_code, float offset, int64_t n_blocks,
                               float* out);

}  // namespace zt::kernels
