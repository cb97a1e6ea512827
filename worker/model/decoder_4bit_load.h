// How a QLoRA decoder's linears get their frozen 4-bit base while the model loads, one tensor at
// a time: read as bitsandbytes' packed tensors from a pre-quantized folder (transformers'
// save_pretrained layout, docs/quantize.md, what `zerotune-worker quantize` writes), or
// quantized from the 16-bit tensor of the mapped file, which is then dropped.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/nf4.h"
#include "worker/io/sharded_safetensors.h"
#include "worker/model/packed4bit_weight.h"

namespace zt::worker::model {

struct Load4bitOptions {
  bool prequantized = false;  // the folder holds the packed tensors (quantization_config)
  // Quantizing while loading (ignored when prequantized: the folder's quant states say it).
  kernels::Quant4Type quant_type = kernels::Quant4Type::kNf4;
  int64_t blocksize = kernels::kDefaultQuant4Blocksize;
  bool double_quant = true;
  // The weight is cast to this before quantizing (config.json's dtype, as transformers loads
  // it and `quantize` does); Undefined quantizes the file's dtype.
  at::ScalarType quantize_dtype = at::ScalarType::Undefined;
  int torch_threads = 1;  // kernels::DoubleQuantizeAbsmaxCpu's split of the absmax mean
  at::ScalarType compute_dtype = at::kFloat;  // bnb_4bit_compute_dtype
};

// The packed weight stored under `name` ("model.layers.0.mlp.up_proj.weight") and its
// `name`.absmax / .quant_map / .nested_absmax / .nested_quant_map / .quant_state.bitsandbytes__*
// tensors, whose names are added to `used`. NotFound / InvalidArgument naming the file, the
// tensor and what was expected (the quant state's shape must be [out, in]).
absl::StatusOr<Packed4bitWeight> ReadPacked4bitWeight(const io::ShardedSafetensors& weights,
                                                      const std::string& name, int64_t out,
                                                      int64_t in, std::set<std::string>& used);

// Quantizes the dense [out, in] tensor `name` as bitsandbytes' Params4bit does, releasing the
// file's pages (and any cast copy) after. InvalidArgument naming the file and tensor for a
// shape other than [out, in] or a non-float tensor.
absl::StatusOr<Packed4bitWeight> QuantizeWeightWhileLoading(const io::ShardedSafetensors& weights,
                                                            const std::string& name, int64_t out,
                                                            int64_t in,
                                                            const Load4bitOptions& options);

}  // namespace zt::worker::model
