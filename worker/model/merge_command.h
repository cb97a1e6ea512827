// `zerotune-worker merge --base DIR --adapter DIR --out DIR [--max_shard_size 5GB]
//                        [--dtype auto|fp32|bf16|fp16]`   (--output is --out's older name)
// PEFT merge_and_unload: W + scaling·B·A for every adapted linear (computed in fp32), written as
// an HF folder: the base's config.json (dtype keys set to the output dtype), safetensors sharded
// by --max_shard_size with the index json, and the base's tokenizer files. --dtype auto keeps
// the base's config dtype (fp32 when it names none).
// A pre-quantized bitsandbytes 4-bit base (config.json quantization_config) is dequantized as
// bitsandbytes' dequantize_4bit to its quant states' dtype, cast to the output dtype, merged,
// and written as a 16-bit folder without quantization_config (transformers' dequantize() and
// Qwen's advice for QLoRA: merge into the 16-bit model). Unimplemented for an 8-bit folder.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace CLI {
class App;
}

namespace zt::worker::model {

struct MergeRequest {
  std::string base;
  std::string adapter;
  std::string output;
  std::string max_shard_size = "5GB";
  std::string dtype = "auto";
};

absl::StatusOr<std::string> RunMerge(const MergeRequest& request);

void AddMergeCommand(CLI::App& app);

}  // namespace zt::worker::model
