// `zerotune estimate --preset` (coordinator/estimate_presets.h): every preset has the published
// parameter total, the same table tests/worker/model/model_presets_test.cc holds init-model's
// presets to, so the two copies of the shapes agree.
#include "coordinator/estimate_presets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "configs/parameter_count.h"

namespace zt::coordinator {
namespace {

TEST(EstimatePresetsTest, ParameterCountsAreThePublishedTotals) {
  const std::pair<const char*, int64_t> expected[] = {
      {"qwen2.5-0.5b", 494032768},  {"qwen2.5-1.5b", 1543714304}, {"qwen2.5-7b", 7615616512},
      {"qwen2.5-14b", 14770033664}, {"qwen3-0.6b", 596049920},    {"qwen3-8b", 8190735360},
      {"qwen3-14b", 14768307200}};
  ASSERT_EQ(EstimatePresetNames().size(), std::size(expected));
  for (const auto& [name, total] : expected) {
    SCOPED_TRACE(name);
    auto config = EstimatePresetConfig(name);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(configs::CountParameters(*config).total, total);
  }
  auto qwen3 = EstimatePresetConfig("qwen3-14b");
  ASSERT_TRUE(qwen3.ok());
  EXPECT_TRUE(qwen3->qk_norm);
  EXPECT_FALSE(qwen3->qkv_bias);
  EXPECT_FALSE(qwen3->tie_word_embeddings);
  EXPECT_EQ(qwen3->head_dim, 128);
}

TEST(EstimatePresetsTest, UnknownPresetListsTheNames) {
  auto config = EstimatePresetConfig("qwen9");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), ::testing::HasSubstr("qwen3-14b"));
}

}  // namespace
}  // namespace zt::coordinator
