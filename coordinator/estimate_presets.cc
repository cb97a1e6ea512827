#include "coordinator/estimate_presets.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace zt::coordinator {
namespace {

struct PresetShape {
  const char* name;
  const char* model_type;
  int64_t hidden, intermediate, layers, heads, kv_heads, head_dim, vocab;
  bool tie;
};

constexpr PresetShape kPresets[] = {
    {"qwen2.5-0.5b", "qwen2", 896, 4864, 24, 14, 2, 64, 151936, true},
    {"qwen2.5-1.5b", "qwen2", 1536, 8960, 28, 12, 2, 128, 151936, true},
    {"qwen2.5-7b", "qwen2", 3584, 18944, 28, 28, 4, 128, 152064, false},
    {"qwen2.5-14b", "qwen2", 5120, 13824, 48, 40, 8, 128, 152064, false},
    {"qwen3-0.6b", "qwen3", 1024, 3072, 28, 16, 8, 128, 151936, true},
    {"qwen3-8b", "qwen3", 4096, 12288, 36, 32, 8, 128, 151936, false},
    {"qwen3-14b", "qwen3", 5120, 17408, 40, 40, 8, 128, 151936, false},
};

}  // namespace

std::vector<std::string> EstimatePresetNames() {
  std::vector<std::string> names;
  for (const PresetShape& p : kPresets) names.push_back(p.name);
  return names;
}

absl::StatusOr<configs::ModelConfig> EstimatePresetConfig(const std::string& name) {
  for (const PresetShape& p : kPresets) {
    if (name != p.name) continue;
    const bool qwen2 = std::string(p.model_type) == "qwen2";
    const nlohmann::json config = {
        {"model_type", p.model_type},
        {"architectures", {qwen2 ? "Qwen2ForCausalLM" : "Qwen3ForCausalLM"}},
        {"hidden_size", p.hidden},
        {"intermediate_size", p.intermediate},
        {"num_hidden_layers", p.layers},
        {"num_attention_heads", p.heads},
        {"num_key_value_heads", p.kv_heads},
        {"head_dim", p.head_dim},
        {"vocab_size", p.vocab},
        {"tie_word_embeddings", p.tie},
        {"max_position_embeddings", 32768},
        {"torch_dtype", "bfloat16"}};
    return configs::ParseModelConfig(config, absl::StrCat("--preset ", name));
  }
  return absl::InvalidArgumentError(absl::StrCat("--preset \"", name, "\", expected one of ",
                                                 absl::StrJoin(EstimatePresetNames(), ", ")));
}

}  // namespace zt::coordinator
