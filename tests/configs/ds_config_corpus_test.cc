// The public ds_config corpus (tests/data/configs/ds_corpus, SOURCE.md): each file, resolved for
// its case's world size and training arguments, must hold every value DeepSpeed 0.19.8 holds
// after transformers' HF Trainer integration filled its "auto"s (the committed
// <name>.expected.json, made by tests/golden/ds_config_goldens.py), except the divergences
// cases.json lists with zerotune's value and the reason.
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "configs/ds_config.h"
#include "configs/json_reader.h"
#include "tests/configs/test_data.h"

namespace zt::configs {
namespace {

using nlohmann::json;
using testing::TestData;

json ReadJson(const std::string& path) {
  absl::StatusOr<json> j = ReadTolerantJsonFile(path);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *j : json();
}

bool SameValue(const json& want, const json& got) {
  if (want.is_number() && got.is_number()) {
    const double a = want.get<double>(), b = got.get<double>();
    return a == b || std::fabs(a - b) <= 1e-12 * std::fabs(a);
  }
  return want == got;
}

// Every leaf of `want` must be present in `got` with the same value; objects are recursed,
// arrays compared element-wise.
void ExpectContains(const json& want, const json& got, const std::string& path,
                    const json& divergences) {
  if (divergences.contains(path)) {
    EXPECT_TRUE(SameValue(divergences[path]["zerotune"], got))
        << path << ": zerotune's documented value " << divergences[path]["zerotune"] << ", got "
        << got;
    return;
  }
  if (want.is_object()) {
    ASSERT_TRUE(got.is_object()) << path << ": expected an object, got " << got;
    for (const auto& [key, value] : want.items()) {
      const std::string child = path.empty() ? key : path + "." + key;
      ASSERT_TRUE(got.contains(key)) << child << " missing from zerotune's resolution";
      ExpectContains(value, got[key], child, divergences);
    }
  } else if (want.is_array() && got.is_array() && want.size() == got.size()) {
    for (size_t i = 0; i < want.size(); ++i) {
      ExpectContains(want[i], got[i], path + "[" + std::to_string(i) + "]", divergences);
    }
  } else {
    EXPECT_TRUE(SameValue(want, got)) << path << ": DeepSpeed holds " << want << ", zerotune "
                                      << got;
  }
}

TrainingArguments ArgsFor(const json& c) {
  TrainingArguments args;
  if (!c.contains("args")) return args;
  EXPECT_TRUE(SetArgumentsFromJson(args, c["args"], c["name"].get<std::string>()).ok());
  return args;
}

class DsCorpusTest : public ::testing::TestWithParam<json> {};

TEST_P(DsCorpusTest, ResolvesAsDeepSpeedAndTheHfTrainer) {
  const json& c = GetParam();
  const std::string dir = TestData("configs/ds_corpus/");
  TrainingArguments args = ArgsFor(c);
  DsResolveOptions options;
  options.world_size = c["world_size"].get<int64_t>();
  options.args = &args;
  if (c.contains("hidden_size")) options.hidden_size = c["hidden_size"].get<int64_t>();
  if (args.max_steps > 0) options.num_training_steps = args.max_steps;
  absl::StatusOr<DsConfig> config = LoadDsConfig(dir + c["input"].get<std::string>(), options);
  ASSERT_TRUE(config.ok()) << config.status();
  const json expected = ReadJson(dir + c["name"].get<std::string>() + ".expected.json");
  ASSERT_FALSE(expected.empty());
  ExpectContains(expected, config->resolved, "", c.value("divergences", json::object()));
  // The typed view agrees with the JSON.
  EXPECT_EQ(config->train_batch_size, expected["train_batch_size"].get<int64_t>());
  EXPECT_EQ(config->zero.stage, expected["zero_optimization"]["stage"].get<int64_t>());
  EXPECT_EQ(config->zero.reduce_bucket_numel,
            expected["zero_optimization"]["reduce_bucket_size"].get<int64_t>());
}

std::vector<json> Cases() {
  json manifest = ReadJson(TestData("configs/ds_corpus/cases.json"));
  std::vector<json> cases;
  for (const json& c : manifest["cases"]) cases.push_back(c);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Corpus, DsCorpusTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<json>& info) {
                           return info.param["name"].get<std::string>();
                         });

TEST(DsCorpusManifestTest, HasAtLeastTwelveConfigs) { EXPECT_GE(Cases().size(), 12u); }

}  // namespace
}  // namespace zt::configs
