// `zerotune-worker quantize --model DIR --out DIR --quant_type nf4|fp4 [--double_quant]
//                           [--blocksize N] [--compute_dtype bf16|fp16|fp32]
//                           [--max_shard_size 5GB] [--torch_threads N]`
// Writes the pre-quantized HF folder that transformers + bitsandbytes save_pretrained writes
// after from_pretrained(..., quantization_config=BitsAndBytesConfig(load_in_4bit=True, ...)):
// every Linear weight of the decoder (2-D `*.weight` tensors other than lm_head and the
// embeddings; norms and biases are 1-D) replaced by `weight` (U8 [(n+1)//2, 1]),
// `weight.absmax`, `weight.quant_map`, with --double_quant `weight.nested_absmax` and
// `weight.nested_quant_map`, and `weight.quant_state.bitsandbytes__<type>` (the JSON blob);
// byte for byte bitsandbytes' (kernels/nf4.h, kernels/double_quant.h). Everything else is kept,
// in the config's dtype as transformers loads it; config.json gains transformers'
// quantization_config; tokenizer files are copied. Written into a staging folder beside --out
// and renamed into place; an existing non-empty --out is refused. docs/quantize.md.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace CLI {
class App;
}

namespace zt::worker::model {

struct QuantizeRequest {
  std::string model;
  std::string out;
  std::string quant_type = "nf4";
  bool double_quant = false;
  int64_t blocksize = 64;
  std::string compute_dtype = "fp32";  // transformers' default bnb_4bit_compute_dtype
  std::string max_shard_size = "5GB";
  // The intra-op thread count of the torch process to match: torch's sum of the absmax (the
  // double-quantization offset) depends on it from 32768 blocks on. 0: this process's LibTorch
  // default (OMP_NUM_THREADS or the core count, as torch's).
  int torch_threads = 0;
};

// The summary line on success.
absl::StatusOr<std::string> RunQuantize(const QuantizeRequest& request);

void AddQuantizeCommand(CLI::App& app);

}  // namespace zt::worker::model
