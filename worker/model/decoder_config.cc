#include "worker/model/decoder_config.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace zt::worker::model {

const char* ArchitectureName(Architecture arch) {
  switch (arch) {
    case Architecture::kQwen2: return "qwen2";
    case Architecture::kQwen3: return "qwen3";
    case Architecture::kLlama: return "llama";
  }
  return "?";
}

absl::Status DecoderConfig::Validate() const {
  const std::pair<const char*, int64_t> sizes[] = {
      {"vocab_size", vocab_size}, {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size}, {"num_hidden_layers", num_layers},
      {"num_attention_heads", num_heads}, {"num_key_value_heads", num_kv_heads},
      {"head_dim", head_dim}};
  for (const auto& [name, value] : sizes) {
    if (value <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, " = ", value, ", expected > 0"));
    }
  }
  if (num_heads % num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_attention_heads = ", num_heads, " is not a multiple of num_key_value_heads = ",
        num_kv_heads));
  }
  if (head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("head_dim = ", head_dim,
                                                   ", expected even (rotary embedding halves)"));
  }
  if (!(rms_norm_eps > 0) || !(rope_theta > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("rms_norm_eps = ", rms_norm_eps,
                                                   ", rope_theta = ", rope_theta,
                                                   ", expected both > 0"));
  }
  return absl::OkStatus();
}

int64_t DecoderConfig::ParameterCount() const {
  const int64_t q = num_heads * head_dim, kv = num_kv_heads * head_dim;
  int64_t layer = hidden_size * (q + 2 * kv) + q * hidden_size + 3 * hidden_size * intermediate_size +
                  2 * hidden_size;
  if (qkv_bias) layer += q + 2 * kv;
  if (qk_norm) layer += 2 * head_dim;
  const int64_t embed = vocab_size * hidden_size;
  return num_layers * layer + embed * (tie_word_embeddings ? 1 : 2) + hidden_size;
}

absl::StatusOr<DecoderConfig> DecoderConfigFromModelConfig(const configs::ModelConfig& model,
                                                           const std::string& source) {
  DecoderConfig c;
  if (model.model_type == "qwen2") {
    c.arch = Architecture::kQwen2;
  } else if (model.model_type == "qwen3") {
    c.arch = Architecture::kQwen3;
  } else if (model.model_type == "llama") {
    c.arch = Architecture::kLlama;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(source, ": model_type \"", model.model_type,
                                                   "\", expected qwen2, qwen3 or llama"));
  }
  if (model.rope_scaling.rope_type != "default") {
    return absl::UnimplementedError(absl::StrCat(
        source, ": rope type \"", model.rope_scaling.rope_type,
        "\" is not computed by this decoder, expected \"default\" (no rope_scaling)"));
  }
  if (model.o_proj_bias || model.mlp_bias) {
    return absl::UnimplementedError(absl::StrCat(
        source, ": ", model.o_proj_bias ? "attention_bias on o_proj" : "mlp_bias",
        " is not supported, expected false (as in released Llama models)"));
  }
  c.vocab_size = model.vocab_size;
  c.hidden_size = model.hidden_size;
  c.intermediate_size = model.intermediate_size;
  c.num_layers = model.num_hidden_layers;
  c.num_heads = model.num_attention_heads;
  c.num_kv_heads = model.num_key_value_heads;
  c.head_dim = model.head_dim;
  c.rms_norm_eps = model.rms_norm_eps;
  c.rope_theta = model.rope_theta;
  c.tie_word_embeddings = model.tie_word_embeddings;
  c.qkv_bias = model.qkv_bias;
  c.qk_norm = model.qk_norm;
  if (absl::Status s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
  }
  return c;
}

absl::StatusOr<DecoderConfig> LoadDecoderConfig(const std::string& dir) {
  ZT_ASSIGN_OR_RETURN(configs::ModelConfig model, configs::LoadModelConfig(dir));
  return DecoderConfigFromModelConfig(model, dir + "/config.json");
}

}  // namespace zt::worker::model
