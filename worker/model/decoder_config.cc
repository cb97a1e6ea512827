#include "worker/model/decoder_config.h"

#include "absl/strings/str_cat.h"

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

}  // namespace zt::worker::model
