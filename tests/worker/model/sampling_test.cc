// sampling.h against HF transformers' own LogitsProcessorList (tests/data/generation/
// processors.json from tests/golden/generation_goldens.py), and TokenSampler's draws.
#include "worker/model/sampling.h"

#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/test_data.h"

namespace zt::worker::model {
namespace {

using ::testing::HasSubstr;

nlohmann::json ReadGolden(const std::string& name) {
  std::ifstream in(::zt::testing::TestDataPath("generation/" + name));
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

at::Tensor FloatRows(const nlohmann::json& rows) {
  std::vector<float> values;
  for (const auto& row : rows) {
    for (const auto& v : row) {
      values.push_back(v.is_null() ? -std::numeric_limits<float>::infinity() : v.get<float>());
    }
  }
  return at::tensor(values, at::kFloat).reshape({static_cast<int64_t>(rows.size()), -1});
}

at::Tensor IdRows(const nlohmann::json& rows) {
  std::vector<int64_t> values;
  for (const auto& row : rows) {
    for (const auto& v : row) values.push_back(v.get<int64_t>());
  }
  return at::tensor(values, at::kLong).reshape({static_cast<int64_t>(rows.size()), -1});
}

SamplingOptions OptionsOf(const nlohmann::json& c) {
  SamplingOptions o;
  o.do_sample = c["do_sample"].get<bool>();
  o.temperature = c["temperature"].get<double>();
  o.top_k = c["top_k"].get<int64_t>();
  o.top_p = c["top_p"].get<double>();
  o.repetition_penalty = c["repetition_penalty"].get<double>();
  return o;
}

TEST(SamplingTest, ProcessorsEqualHfLogitsProcessorListBitForBit) {
  const nlohmann::json golden = ReadGolden("processors.json");
  ASSERT_GE(golden["cases"].size(), 10u);
  for (const auto& c : golden["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const SamplingOptions options = OptionsOf(c);
    EXPECT_EQ(ProcessorNames(options), c["processors"].get<std::vector<std::string>>());
    const at::Tensor scores = FloatRows(c["scores"]);
    const at::Tensor expected = FloatRows(c["expected"]);
    const at::Tensor out = ProcessScores(options, IdRows(c["input_ids"]), scores);
    ASSERT_EQ(out.sizes(), expected.sizes());
    // Same filtered set and identical values (-inf == -inf compares equal).
    EXPECT_TRUE(at::equal(out.isinf(), expected.isinf()));
    EXPECT_TRUE(at::equal(out, expected))
        << "max |diff| " << (out - expected).nan_to_num(0.0).abs().max().item<float>();
  }
}

TEST(SamplingTest, RepetitionPenaltyDividesPositiveAndMultipliesNegativeOncePerToken) {
  const at::Tensor scores = at::tensor({2.0f, -2.0f, 1.0f, -1.0f}).reshape({1, 4});
  const at::Tensor history = at::tensor({0, 1, 0, 1, 1}, at::kLong).reshape({1, 5});
  const at::Tensor out = ApplyRepetitionPenalty(history, scores, 2.0);
  EXPECT_TRUE(at::equal(out, at::tensor({1.0f, -4.0f, 1.0f, -1.0f}).reshape({1, 4})));
}

TEST(SamplingTest, TopPKeepsTheSmallestSetReachingTheMassAndAtLeastOneToken) {
  // softmax(log p) = p: 0.5, 0.3, 0.15, 0.05. top_p 0.75: ascending cumsum 0.05, 0.2, 0.5, 1.0;
  // HF removes the tokens whose ascending cumulative mass is <= 1 - top_p = 0.25.
  const at::Tensor scores = at::tensor({0.5f, 0.3f, 0.15f, 0.05f}).log().reshape({1, 4});
  const at::Tensor out = ApplyTopP(scores, 0.75);
  EXPECT_FALSE(out[0][1].isinf().item<bool>());
  EXPECT_TRUE(out[0][2].isinf().item<bool>());
  EXPECT_TRUE(out[0][3].isinf().item<bool>());
  EXPECT_EQ(ApplyTopP(scores, 0.0).isinf().sum().item<int64_t>(), 3);  // min_tokens_to_keep
}

TEST(SamplingTest, InvalidOptionsAreRejectedAsHfDoes) {
  SamplingOptions o;
  o.do_sample = true;
  o.temperature = 0.0;
  EXPECT_THAT(ValidateSamplingOptions(o).message(),
              HasSubstr("--temperature 0: expected a strictly positive"));
  o.temperature = 0.7;
  o.top_p = 1.5;
  EXPECT_THAT(ValidateSamplingOptions(o).message(),
              HasSubstr("--top_p 1.5: expected a number in [0, 1]"));
  o.top_p = 0.9;
  o.top_k = -1;
  EXPECT_THAT(ValidateSamplingOptions(o).message(), HasSubstr("--top_k -1: expected >= 0"));
  o.top_k = 20;
  o.repetition_penalty = 0.0;
  EXPECT_THAT(ValidateSamplingOptions(o).message(),
              HasSubstr("--repetition_penalty 0: expected > 0"));
  o.repetition_penalty = 1.1;
  EXPECT_TRUE(ValidateSamplingOptions(o).ok());
  SamplingOptions greedy;
  greedy.temperature = 0.0;  // ignored without do_sample, as HF
  EXPECT_TRUE(ValidateSamplingOptions(greedy).ok());
}

TEST(SamplingTest, GreedyTakesTheArgmaxOfThePenalisedScores) {
  SamplingOptions o;
  o.repetition_penalty = 4.0;
  TokenSampler sampler(o, 1);
  const at::Tensor logits = at::tensor({3.0f, 1.0f, 2.0f});
  EXPECT_EQ(sampler.Next(at::tensor({1}, at::kLong), logits), 0);
  EXPECT_EQ(sampler.Next(at::tensor({0}, at::kLong), logits), 2);  // 3 / 4 < 2
  EXPECT_EQ(sampler.Next(at::tensor({0}, at::kLong), logits.to(at::kBFloat16).unsqueeze(0)), 2);
}

std::vector<int64_t> Draws(const SamplingOptions& o, uint64_t seed, const at::Tensor& logits,
                           int n) {
  TokenSampler sampler(o, seed);
  std::vector<int64_t> out;
  const at::Tensor history = at::zeros({1}, at::kLong);
  for (int i = 0; i < n; ++i) out.push_back(sampler.Next(history, logits));
  return out;
}

TEST(SamplingTest, SeededSamplingIsReproducibleAndDrawsFromTheFilteredDistribution) {
  SamplingOptions o;
  o.do_sample = true;
  o.top_k = 3;
  const at::Tensor logits = at::tensor({0.5f, 0.3f, 0.15f, 0.05f}).log();
  const std::vector<int64_t> a = Draws(o, 42, logits, 4000);
  EXPECT_EQ(a, Draws(o, 42, logits, 4000));
  EXPECT_NE(a, Draws(o, 43, logits, 4000));
  std::map<int64_t, int> counts;
  for (int64_t id : a) ++counts[id];
  EXPECT_EQ(counts.count(3), 0u);  // outside top_k 3
  // Renormalised over the kept 0.95: 0.526, 0.316, 0.158 (binomial sd < 0.008).
  EXPECT_NEAR(counts[0] / 4000.0, 0.5 / 0.95, 0.03);
  EXPECT_NEAR(counts[1] / 4000.0, 0.3 / 0.95, 0.03);
  EXPECT_NEAR(counts[2] / 4000.0, 0.15 / 0.95, 0.03);
  o.top_k = 1;
  for (int64_t id : Draws(o, 7, logits, 50)) EXPECT_EQ(id, 0);
}

}  // namespace
}  // namespace zt::worker::model
