// A frozen bitsandbytes 4-bit weight [out, in] (Params4bit + QuantState, docs/quantize.md): the
// packed codes and the constants that decode them, as transformers' save_pretrained stores
// them, and the CPU dequantization of all of it or of a range of whole rows (a tile).
// The tensors live on one device: the CPU, or a CUDA device once the model moved there (then
// dequantization runs kernels/nf4_dequant_cuda.h, whole weights only). The struct holds
// references only (copying shares storage). Dequantization is bitsandbytes' dequantize_4bit
// bit for bit (kernels/nf4.h).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/nf4.h"

namespace zt::worker::model {

struct Packed4bitWeight {
  at::Tensor packed;         // uint8, Quant4PackedBytes(out * in) elements, any shape
  at::Tensor absmax;         // fp32 [blocks]; uint8 codes [blocks] with double quantization
  at::Tensor quant_map;      // fp32 [16]: must equal kernels::Quant4CodeBook(quant_type)
  at::Tensor nested_absmax;  // fp32 [ceil(blocks / 256)] with double quantization, else undefined
  at::Tensor nested_quant_map;  // fp32 [256] with double quantization, else undefined
  float nested_offset = 0.0f;   // the mean subtracted before double quantization
  kernels::Quant4Type quant_type = kernels::Quant4Type::kNf4;
  int64_t blocksize = kernels::kDefaultQuant4Blocksize;
  at::ScalarType dtype = at::kBFloat16;  // QuantState.dtype: what F.dequantize_4bit returns
  int64_t out_features = 0;
  int64_t in_features = 0;

  bool double_quant() const { return nested_absmax.defined(); }
  int64_t numel() const { return out_features * in_features; }
  // Bytes of every tensor above: what the weight costs in memory.
  int64_t StorageBytes() const;
};

// InvalidArgument naming the first field that disagrees with the others (sizes, dtypes, a
// quant_map other than bitsandbytes', a blocksize bitsandbytes refuses, a non-CPU tensor).
absl::Status ValidatePacked4bitWeight(const Packed4bitWeight& weight);

// Quantizes a dense CPU weight [out, in] (bf16, fp16 or fp32) as bitsandbytes' Params4bit
// does; `torch_threads` as kernels::DoubleQuantizeAbsmaxCpu. For tests, benchmarks and
// quantizing while loading.
Packed4bitWeight QuantizePacked4bit(const at::Tensor& weight, kernels::Quant4Type quant_type,
                                    int64_t blocksize, bool double_quant, int torch_threads = 1);

// The fp32 absmax of every block ([blocks]): `absmax` itself, or decoded from the nested state
// (what bitsandbytes' gemm_4bit decodes first). A temporary: 4 bytes per block.
at::Tensor BlockAbsmax(const Packed4bitWeight& weight);

// Rows per tile must be a multiple of this so every tile starts on a quantization block:
// blocksize / gcd(in_features, blocksize).
int64_t RowTileGranularity(const Packed4bitWeight& weight);

// Dequantizes rows [row_begin, row_begin + out.size(0)) into `out` (contiguous [rows, in], a
// float dtype: the values are rounded to out's dtype). `row_begin` is a multiple of
// RowTileGranularity; `block_absmax` is BlockAbsmax(weight).
void DequantizeRowsInto(const Packed4bitWeight& weight, const at::Tensor& block_absmax,
                        int64_t row_begin, const at::Tensor& out);

// The whole weight [out, in] in `dtype`.
at::Tensor DequantizePacked4bit(const Packed4bitWeight& weight, at::ScalarType dtype);

}  // namespace zt::worker::model
