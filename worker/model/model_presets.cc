#include "worker/model/model_presets.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace zt::worker::model {
namespace {

struct Shape {
  const char* name;
  Architecture arch;
  int64_t hidden, intermediate, layers, heads, kv_heads, head_dim, vocab;
  bool tie;
  double rms_norm_eps;
  int64_t max_positions;
  int64_t eos;
};

// docs/estimate.md (published config.json values of the base models).
constexpr Shape kShapes[] = {
    {"qwen2.5-0.5b", Architecture::kQwen2, 896, 4864, 24, 14, 2, 64, 151936, true, 1e-6, 32768, 151643},
    {"qwen2.5-1.5b", Architecture::kQwen2, 1536, 8960, 28, 12, 2, 128, 151936, true, 1e-6, 131072, 151643},
    {"qwen2.5-7b", Architecture::kQwen2, 3584, 18944, 28, 28, 4, 128, 152064, false, 1e-6, 131072, 151643},
    {"qwen2.5-14b", Architecture::kQwen2, 5120, 13824, 48, 40, 8, 128, 152064, false, 1e-5, 131072, 151643},
    {"qwen3-0.6b", Architecture::kQwen3, 1024, 3072, 28, 16, 8, 128, 151936, true, 1e-6, 40960, 151645},
    {"qwen3-8b", Architecture::kQwen3, 4096, 12288, 36, 32, 8, 128, 151936, false, 1e-6, 40960, 151645},
    {"qwen3-14b", Architecture::kQwen3, 5120, 17408, 40, 40, 8, 128, 151936, false, 1e-6, 40960, 151645},
};

void SetArchitectureTraits(DecoderConfig& c) {
  c.qkv_bias = c.arch == Architecture::kQwen2;
  c.qk_norm = c.arch == Architecture::kQwen3;
}

ModelPreset Tiny(Architecture arch) {
  // Sized from a CPU spike (see the report in issue 4): 2 layers of width 64 over the full Qwen
  // vocabulary, tied, so the lm_head is shared and a LoRA step on 2 CPU ranks stays fast.
  ModelPreset p;
  p.name = "tiny";
  DecoderConfig& c = p.config;
  c.arch = arch;
  c.vocab_size = 151936;
  c.hidden_size = 64;
  c.intermediate_size = 192;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.rope_theta = 1e6;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = true;
  SetArchitectureTraits(c);
  p.max_window_layers = c.num_layers;
  p.max_position_embeddings = 4096;
  p.eos_token_id = 151645;
  // With Qwen's 0.02, a width-64 hidden state (RMS-normalised to norm 8) times embedding rows of
  // norm 0.16 bounds every logit near 1.3: no frozen random vocabulary lets any adapter push a
  // token's probability up. Rows of norm 2 give margins of ~16 against the 152k others.
  p.initializer_range = 0.25;
  return p;
}

}  // namespace

std::vector<std::string> PresetNames() {
  std::vector<std::string> names{"tiny"};
  for (const Shape& s : kShapes) names.push_back(s.name);
  return names;
}

absl::StatusOr<Architecture> ParseArchitecture(const std::string& name) {
  for (Architecture a : {Architecture::kQwen2, Architecture::kQwen3, Architecture::kLlama}) {
    if (name == ArchitectureName(a)) return a;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--arch \"", name, "\", expected one of qwen2, qwen3, llama"));
}

absl::StatusOr<ModelPreset> FindPreset(const std::string& name, const std::string& arch) {
  Architecture wanted = Architecture::kQwen2;
  if (!arch.empty()) {
    auto parsed = ParseArchitecture(arch);
    if (!parsed.ok()) return parsed.status();
    wanted = *parsed;
  }
  if (name == "tiny") return Tiny(wanted);
  for (const Shape& s : kShapes) {
    if (name != s.name) continue;
    if (!arch.empty() && wanted != s.arch) {
      return absl::InvalidArgumentError(absl::StrCat("--arch ", arch, " does not fit --preset ",
                                                     name, ", which is ", ArchitectureName(s.arch)));
    }
    ModelPreset p;
    p.name = s.name;
    DecoderConfig& c = p.config;
    c.arch = s.arch;
    c.vocab_size = s.vocab;
    c.hidden_size = s.hidden;
    c.intermediate_size = s.intermediate;
    c.num_layers = s.layers;
    c.num_heads = s.heads;
    c.num_kv_heads = s.kv_heads;
    c.head_dim = s.head_dim;
    c.rope_theta = 1e6;
    c.rms_norm_eps = s.rms_norm_eps;
    c.tie_word_embeddings = s.tie;
    SetArchitectureTraits(c);
    p.max_position_embeddings = s.max_positions;
    p.max_window_layers = s.layers;
    p.eos_token_id = s.eos;
    return p;
  }
  return absl::InvalidArgumentError(absl::StrCat("--preset \"", name, "\", expected one of ",
                                                 absl::StrJoin(PresetNames(), ", ")));
}

const char* HfDtypeName(at::ScalarType dtype) {
  switch (dtype) {
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    default: return "float32";
  }
}

nlohmann::json HfConfigJson(const ModelPreset& preset, at::ScalarType dtype) {
  const DecoderConfig& c = preset.config;
  static const char* kArchitectures[] = {"Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM"};
  nlohmann::json j = {
      {"architectures", {kArchitectures[static_cast<int>(c.arch)]}},
      {"model_type", ArchitectureName(c.arch)},
      {"vocab_size", c.vocab_size}, {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size}, {"num_hidden_layers", c.num_layers},
      {"num_attention_heads", c.num_heads}, {"num_key_value_heads", c.num_kv_heads},
      {"hidden_act", "silu"}, {"max_position_embeddings", preset.max_position_embeddings},
      {"rms_norm_eps", c.rms_norm_eps}, {"rope_theta", c.rope_theta}, {"rope_scaling", nullptr},
      {"rope_parameters", {{"rope_theta", c.rope_theta}, {"rope_type", "default"}}},
      {"tie_word_embeddings", c.tie_word_embeddings}, {"initializer_range", preset.initializer_range},
      {"attention_dropout", 0.0}, {"bos_token_id", preset.bos_token_id},
      {"eos_token_id", preset.eos_token_id}, {"use_cache", true},
      {"torch_dtype", HfDtypeName(dtype)}, {"dtype", HfDtypeName(dtype)}};
  if (c.arch == Architecture::kQwen2) {
    j["use_sliding_window"] = false;
    j["sliding_window"] = preset.max_position_embeddings;
    j["max_window_layers"] = preset.max_window_layers;
  } else {
    j["head_dim"] = c.head_dim;
    j["attention_bias"] = c.qkv_bias;
  }
  if (c.arch == Architecture::kQwen3) {
    j["use_sliding_window"] = false;
    j["sliding_window"] = nullptr;
    j["max_window_layers"] = preset.max_window_layers;
  }
  if (c.arch == Architecture::kLlama) {
    j["mlp_bias"] = false;
    j["pretraining_tp"] = 1;
  }
  return j;
}

}  // namespace zt::worker::model
