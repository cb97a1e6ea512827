#include "configs/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "configs/json_reader.h"
#include "configs/lora_target_modules.h"
#include "configs/parameter_count.h"
#include "tests/configs/test_data.h"

namespace zt::configs {
namespace {

using ::testing::HasSubstr;
using testing::TestData;

ModelConfig LoadPreset(const std::string& name) {
  absl::StatusOr<ModelConfig> config = LoadModelConfig(TestData("configs/models/" + name + ".json"));
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : ModelConfig{};
}

// Published totals (docs/estimate.md: model cards' 0.49B / 1.54B / 7.61B / 14.7B / 0.6B / 8.2B /
// 14.8B, exact counts from the configs) and Llama-3.1-8B's 8,030,261,248.
struct PresetCase {
  const char* name;
  int64_t total;
  int64_t decoder_linear;  // quantizable by 4-bit
  int64_t lora_r16_all_linear;
};

class PresetTest : public ::testing::TestWithParam<PresetCase> {};

TEST_P(PresetTest, ParameterCountsMatchPublishedTotals) {
  const PresetCase& c = GetParam();
  ModelConfig config = LoadPreset(c.name);
  ParameterCounts counts = CountParameters(config);
  EXPECT_EQ(counts.total, c.total);
  EXPECT_EQ(counts.decoder_linear, c.decoder_linear);
  absl::StatusOr<LoraTargetModules> all = ParseLoraTargetModules("all-linear");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(CountLoraParameters(config, 16, *all), c.lora_r16_all_linear);
}

INSTANTIATE_TEST_SUITE_P(
    Presets, PresetTest,
    ::testing::Values(PresetCase{"qwen2.5-0.5b", 494032768, 357826560, 8798208},
                      PresetCase{"qwen2.5-1.5b", 1543714304, 1310195712, 18464768},
                      PresetCase{"qwen2.5-7b", 7615616512, 6525288448, 40370176},
                      PresetCase{"qwen2.5-7b.v5", 7615616512, 6525288448, 40370176},
                      PresetCase{"qwen2.5-14b", 14770033664, 13212057600, 68812800},
                      PresetCase{"qwen3-0.6b", 596049920, 440401920, 10092544},
                      PresetCase{"qwen3-8b", 8190735360, 6945767424, 43646976},
                      PresetCase{"qwen3-14b", 14768307200, 13212057600, 64225280},
                      PresetCase{"llama-3.1-8b", 8030261248, 6979321856, 41943040}),
    [](const ::testing::TestParamInfo<PresetCase>& info) {
      std::string name = info.param.name;
      for (char& ch : name) {
        if (ch == '.' || ch == '-') ch = '_';
      }
      return name;
    });

TEST(ModelConfigTest, ReadsTransformers4And5SpellingsAlike) {
  ModelConfig v4 = LoadPreset("qwen2.5-7b");
  ModelConfig v5 = LoadPreset("qwen2.5-7b.v5");
  EXPECT_EQ(v4.rope_theta, 1e6);
  EXPECT_EQ(v5.rope_theta, 1e6);
  EXPECT_EQ(v4.dtype, "bfloat16");
  EXPECT_EQ(v5.dtype, "bfloat16");
  EXPECT_EQ(v5.rope_scaling.rope_type, "default");
  EXPECT_EQ(v4.head_dim, 128);
  EXPECT_TRUE(v4.qkv_bias);
  EXPECT_FALSE(v4.qk_norm);
}

TEST(ModelConfigTest, Qwen3AndLlamaSpecifics) {
  ModelConfig qwen3 = LoadPreset("qwen3-0.6b");
  EXPECT_EQ(qwen3.head_dim, 128);  // not hidden_size / heads = 64
  EXPECT_TRUE(qwen3.qk_norm);
  EXPECT_FALSE(qwen3.qkv_bias);
  EXPECT_TRUE(qwen3.tie_word_embeddings);
  EXPECT_EQ(qwen3.eos_token_ids, std::vector<int64_t>{151645});
  ModelConfig llama = LoadPreset("llama-3.1-8b");
  EXPECT_EQ(llama.rope_scaling.rope_type, "llama3");
  EXPECT_EQ(llama.rope_scaling.factor, 8.0);
  EXPECT_EQ(llama.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(llama.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(llama.num_key_value_heads, 8);
}

TEST(ModelConfigTest, AbsentKeysTakeTheClassDefaults) {
  absl::StatusOr<ModelConfig> c = ParseModelConfig(
      nlohmann::json{{"model_type", "llama"}, {"num_attention_heads", 8}, {"hidden_size", 512}}, "x");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_key_value_heads, 8);  // = num_attention_heads
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->vocab_size, 32000);
  EXPECT_EQ(c->max_position_embeddings, 2048);
  EXPECT_EQ(c->rope_theta, 10000.0);
}

TEST(ModelConfigTest, YarnRopeScalingIn4xSpelling) {
  nlohmann::json j = nlohmann::json::parse(R"({"model_type": "qwen2", "rope_scaling":
      {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}})");
  absl::StatusOr<ModelConfig> c = ParseModelConfig(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.rope_type, "yarn");
  EXPECT_EQ(c->rope_scaling.factor, 4.0);
}

struct ModelRejectCase {
  const char* name;
  const char* json;
  const char* message;
};

class ModelConfigRejectTest : public ::testing::TestWithParam<ModelRejectCase> {};

TEST_P(ModelConfigRejectTest, RejectsWithMessage) {
  absl::StatusOr<ModelConfig> c =
      ParseModelConfig(nlohmann::json::parse(GetParam().json), "m/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ModelConfigRejectTest,
    ::testing::Values(
        ModelRejectCase{"qwen1", R"({"model_type": "qwen"})",
                   "m/config.json: model_type: \"qwen\" (Qwen-1, remote code) is not supported; use "
                   "a 16-bit Qwen2.5 checkpoint (e.g. Qwen/Qwen2.5-7B-Instruct) with --q_lora, "
                   "which quantizes it to 4-bit NF4 at load"},
        ModelRejectCase{"gptq",
                   R"({"model_type": "qwen2", "quantization_config": {"quant_method": "gptq", "bits": 4}})",
                   "m/config.json: quantization_config.quant_method: \"gptq\" checkpoints (GPTQ/AWQ "
                   "and other pre-quantized formats) are not supported; use a 16-bit Qwen2.5 "
                   "checkpoint (e.g. Qwen/Qwen2.5-7B-Instruct) with --q_lora, which quantizes it to "
                   "4-bit NF4 at load"},
        ModelRejectCase{"awq", R"({"model_type": "qwen2", "quantization_config": {"quant_method": "awq"}})",
                   "m/config.json: quantization_config.quant_method: \"awq\" checkpoints (GPTQ/AWQ "
                   "and other pre-quantized formats) are not supported; use a 16-bit Qwen2.5 "
                   "checkpoint (e.g. Qwen/Qwen2.5-7B-Instruct) with --q_lora, which quantizes it to "
                   "4-bit NF4 at load"},
        ModelRejectCase{"unknown_type", R"({"model_type": "mistral"})",
                   "m/config.json: model_type: \"mistral\" is not supported, expected one of qwen2, "
                   "qwen3, llama"},
        ModelRejectCase{"missing_type", R"({"hidden_size": 8})",
                   "m/config.json: model_type: missing, expected one of qwen2, qwen3, llama"},
        ModelRejectCase{"rope_type", R"({"model_type": "llama", "rope_scaling": {"rope_type": "longrope"}})",
                   "m/config.json: rope_scaling.rope_type: \"longrope\" is not supported, expected "
                   "one of default, linear, dynamic, yarn, llama3"},
        ModelRejectCase{"rope_v5_type",
                   R"({"model_type": "qwen3", "rope_parameters": {"rope_theta": 1e6, "rope_type": "mrope"}})",
                   "m/config.json: rope_parameters.rope_type: \"mrope\" is not supported, expected "
                   "one of default, linear, dynamic, yarn, llama3"},
        ModelRejectCase{"kv_heads", R"({"model_type": "qwen2", "num_attention_heads": 14, "num_key_value_heads": 4, "hidden_size": 896})",
                   "m/config.json: num_key_value_heads: got 4, expected a divisor of "
                   "num_attention_heads 14"},
        ModelRejectCase{"head_split", R"({"model_type": "llama", "hidden_size": 100, "num_attention_heads": 3})",
                   "m/config.json: hidden_size: 100 is not divisible by num_attention_heads 3 and "
                   "there is no head_dim"},
        ModelRejectCase{"hidden_act", R"({"model_type": "llama", "hidden_act": "gelu"})",
                   "m/config.json: hidden_act: \"gelu\" is not supported, expected \"silu\""},
        ModelRejectCase{"bad_type", R"({"model_type": "qwen2", "hidden_size": "896"})",
                   "m/config.json: hidden_size: got \"896\", expected an integer"},
        ModelRejectCase{"implausible", R"({"model_type": "llama", "hidden_size": 4096131072, "vocab_size": 128})",
                   "m/config.json: the shapes give about 2.14763e+21 parameters, expected at most "
                   "1e15 (check hidden_size, intermediate_size, vocab_size, num_hidden_layers, "
                   "head_dim)"},
        ModelRejectCase{"negative", R"({"model_type": "qwen2", "num_hidden_layers": 0})",
                   "m/config.json: num_hidden_layers: got 0, expected a positive integer"}),
    [](const ::testing::TestParamInfo<ModelRejectCase>& info) { return std::string(info.param.name); });

TEST(ModelConfigTest, AcceptsBitsandbytesQuantizationConfig) {
  nlohmann::json j = nlohmann::json::parse(R"({"model_type": "qwen2", "quantization_config": {
      "quant_method": "bitsandbytes", "load_in_4bit": true, "bnb_4bit_quant_type": "nf4",
      "bnb_4bit_use_double_quant": true, "bnb_4bit_compute_dtype": "bfloat16"}})");
  absl::StatusOr<ModelConfig> c = ParseModelConfig(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->quantization.has_value());
  EXPECT_EQ(c->quantization->bnb_4bit_quant_type, "nf4");
  EXPECT_TRUE(c->quantization->bnb_4bit_use_double_quant);
}

TEST(ModelConfigTest, LoadsFromAFolderAndNamesMissingFiles) {
  absl::StatusOr<ModelConfig> missing = LoadModelConfig(TestData("configs/no-such-model"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("no-such-model"));
}

TEST(LoraParametersTest, NamesListMatchesSuffixesOnly) {
  ModelConfig config = LoadPreset("qwen2.5-0.5b");
  absl::StatusOr<LoraTargetModules> qv = ParseLoraTargetModules("q_proj,v_proj");
  ASSERT_TRUE(qv.ok());
  // r * (in + out) per layer: q 896+896, v 896+128.
  EXPECT_EQ(CountLoraParameters(config, 8, *qv), 24 * 8 * ((896 + 896) + (896 + 128)));
  absl::StatusOr<LoraTargetModules> regex = ParseLoraTargetModules(R"(.*\.layers\.0\.self_attn\.q_proj)");
  ASSERT_TRUE(regex.ok());
  EXPECT_EQ(CountLoraParameters(config, 8, *regex), 8 * (896 + 896));
}

}  // namespace
}  // namespace zt::configs
