// Model shapes init-model can write (docs/estimate.md, the published config.json values) and the
// HF config.json that describes a DecoderConfig.
//
// Presets: tiny (per --arch; sized so the CPU demo learns within its time budget),
// qwen2.5-0.5b, qwen2.5-1.5b, qwen2.5-7b, qwen2.5-14b (qwen2), qwen3-0.6b, qwen3-8b, qwen3-14b
// (qwen3). Real presets keep the 151,936 / 152,064-row vocabularies of the released models.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/model/decoder_config.h"

namespace zt::worker::model {

struct ModelPreset {
  std::string name;
  DecoderConfig config;
  int64_t max_position_embeddings = 32768;
  int64_t max_window_layers = 0;
  int64_t bos_token_id = 151643;
  int64_t eos_token_id = 151643;
  // transformers' _init_weights std (config.json "initializer_range"). The released shapes use
  // Qwen's 0.02; tiny draws wider (see model_presets.cc) so its frozen random vocabulary is
  // separable and LoRA alone can memorise the demo's answers.
  double initializer_range = 0.02;
};

std::vector<std::string> PresetNames();

// `arch` "qwen2" | "qwen3" | "llama" picks tiny's architecture and must agree with a named
// preset's (or be empty). InvalidArgument naming the flag, the value and the choices.
absl::StatusOr<ModelPreset> FindPreset(const std::string& name, const std::string& arch);

// "qwen2" -> kQwen2 ...; InvalidArgument listing the choices.
absl::StatusOr<Architecture> ParseArchitecture(const std::string& name);

// A config.json for `preset` readable by transformers 4.x and 5.x: both rope_theta and
// rope_parameters, both torch_dtype and dtype ("bfloat16" / "float32" / "float16").
nlohmann::json HfConfigJson(const ModelPreset& preset, at::ScalarType dtype);

// "bfloat16" / "float16" / "float32" for the torch dtype.
const char* HfDtypeName(at::ScalarType dtype);

}  // namespace zt::worker::model
