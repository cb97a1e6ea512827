#include "worker/model/model_presets.h"

#include "configs/parameter_count.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zt::worker::model {
namespace {

using ::testing::HasSubstr;

TEST(ModelPresetsTest, ParameterCountsAreThePublishedTotals) {
  // docs/estimate.md (agreeing with the published 0.49B / 1.54B / 7.61B / 14.7B / 0.6B / 8.2B /
  // 14.8B).
  const std::pair<const char*, int64_t> expected[] = {
      {"qwen2.5-0.5b", 494032768},   {"qwen2.5-1.5b", 1543714304}, {"qwen2.5-7b", 7615616512},
      {"qwen2.5-14b", 14770033664},  {"qwen3-0.6b", 596049920},    {"qwen3-8b", 8190735360},
      {"qwen3-14b", 14768307200}};
  for (const auto& [name, total] : expected) {
    auto preset = FindPreset(name, "");
    ASSERT_TRUE(preset.ok()) << preset.status();
    EXPECT_EQ(preset->config.ParameterCount(), total) << name;
  }
}

TEST(ModelPresetsTest, WrittenConfigJsonReadsBackThroughTheConfigsParser) {
  for (const std::string& name : PresetNames()) {
    for (const char* arch : {"qwen2", "qwen3", "llama"}) {
      auto preset = FindPreset(name, name == "tiny" ? arch : "");
      ASSERT_TRUE(preset.ok()) << preset.status();
      const nlohmann::json json = HfConfigJson(*preset, at::kBFloat16);
      auto model = configs::ParseModelConfig(json, name);
      ASSERT_TRUE(model.ok()) << model.status();
      EXPECT_EQ(model->dtype, "bfloat16");
      auto back = DecoderConfigFromModelConfig(*model, name);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(back->ParameterCount(), preset->config.ParameterCount()) << name;
      EXPECT_EQ(configs::CountParameters(*model).total, preset->config.ParameterCount()) << name;
      EXPECT_EQ(back->qkv_bias, preset->config.qkv_bias) << name;
      EXPECT_EQ(back->qk_norm, preset->config.qk_norm) << name;
      EXPECT_EQ(back->head_dim, preset->config.head_dim) << name;
      if (name != "tiny") break;
    }
  }
}

TEST(ModelPresetsTest, TinyFollowsArchAndMismatchesAreErrors) {
  EXPECT_TRUE(FindPreset("tiny", "qwen3")->config.qk_norm);
  EXPECT_TRUE(FindPreset("tiny", "qwen2")->config.qkv_bias);
  EXPECT_FALSE(FindPreset("tiny", "llama")->config.qkv_bias);
  EXPECT_THAT(FindPreset("qwen3-8b", "llama").status().message(),
              HasSubstr("--arch llama does not fit --preset qwen3-8b, which is qwen3"));
  EXPECT_THAT(FindPreset("qwen9", "").status().message(),
              HasSubstr("--preset \"qwen9\", expected one of tiny, qwen2.5-0.5b"));
  EXPECT_THAT(FindPreset("tiny", "gpt2").status().message(), HasSubstr("--arch \"gpt2\""));
}

}  // namespace
}  // namespace zt::worker::model
