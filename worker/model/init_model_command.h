// `zerotune-worker init-model --arch qwen2|qwen3|llama --preset NAME [--tokenizer DIR]
//                             --out DIR --seed N --dtype bf16|fp32 [--max_shard_size 5GB]`
// Writes a random-initialised HF model folder with the preset's real shapes (model_presets.h):
// config.json, safetensors (sharded above --max_shard_size) and, with --tokenizer, the tokenizer
// files copied. Weights follow transformers' _init_weights (N(0, 0.02²) matrices, zero biases,
// unit norms), reproducible from --seed. Prints one summary line.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace CLI {
class App;
}

namespace zt::worker::model {

struct InitModelRequest {
  std::string arch;
  std::string preset;
  std::string tokenizer;
  std::string out;
  uint64_t seed = 0;
  std::string dtype = "bf16";
  std::string max_shard_size = "5GB";
};

// The summary line. Errors name the flag (InvalidArgument) or the path (Internal).
absl::StatusOr<std::string> RunInitModel(const InitModelRequest& request);

void AddInitModelCommand(CLI::App& app);

}  // namespace zt::worker::model
