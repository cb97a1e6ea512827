// generate_command.h in-process: greedy generation with a KV cache equals HF + PEFT's greedy
// generate() ids (tests/data/generation/generate.json), stopping, HF's sampling-default
// precedence and the command's errors.
#include "worker/model/generate_command.h"

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"
#include "tests/worker/model/golden_models.h"
#include "worker/model/model_folder.h"

namespace zt::worker::model {
namespace {

using testing::GoldenDir;
using ::testing::HasSubstr;

nlohmann::json GenerateGolden() {
  std::ifstream in(::zt::testing::TestDataPath("generation/generate.json"));
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

TEST(GenerateTest, GreedyWithKvCacheEqualsHfPeftGenerate) {
  const nlohmann::json golden = GenerateGolden();
  ASSERT_EQ(golden["cases"].size(), 4u);
  for (const auto& c : golden["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const std::string dir = GoldenDir(c["model"].get<std::string>());
    auto decoder =
        LoadModelFolder(dir, at::kFloat, c["adapter"].get<bool>() ? dir + "/adapter" : "");
    ASSERT_TRUE(decoder.ok()) << decoder.status();
    SamplingOptions options;
    options.repetition_penalty = c["repetition_penalty"].get<double>();
    TokenSampler sampler(options, 0);
    std::vector<int64_t> seen;
    const std::vector<int64_t> ids = Generate(
        *decoder, c["prompt"].get<std::vector<int64_t>>(), c["max_new_tokens"].get<int64_t>(),
        {c["eos_token_id"].get<int64_t>()}, sampler, [&](int64_t id) { seen.push_back(id); });
    EXPECT_EQ(ids, c["generated"].get<std::vector<int64_t>>());
    EXPECT_EQ(seen, ids);
  }
}

TEST(GenerateTest, StopsAfterTheFirstStopTokenAndKeepsIt) {
  const nlohmann::json c = GenerateGolden()["cases"][1];  // qwen2 + adapter, repetition penalty
  const std::string dir = GoldenDir("qwen2");
  auto decoder = LoadModelFolder(dir, at::kFloat, dir + "/adapter");
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  const std::vector<int64_t> full = c["generated"].get<std::vector<int64_t>>();
  SamplingOptions options;
  options.repetition_penalty = c["repetition_penalty"].get<double>();
  TokenSampler sampler(options, 0);
  const std::vector<int64_t> ids =
      Generate(*decoder, c["prompt"].get<std::vector<int64_t>>(), 16, {999, full[4]}, sampler);
  EXPECT_EQ(ids, std::vector<int64_t>(full.begin(), full.begin() + 5));
  TokenSampler again(options, 0);
  EXPECT_EQ(Generate(*decoder, c["prompt"].get<std::vector<int64_t>>(), 3, {}, again),
            std::vector<int64_t>(full.begin(), full.begin() + 3));
}

TEST(GenerateTest, AChatCacheReusesTheCommonPrefixAndGivesTheSameIds) {
  const std::string dir = GoldenDir("qwen3");
  auto decoder = LoadModelFolder(dir, at::kFloat, dir + "/adapter");
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  TokenSampler sampler(SamplingOptions(), 0);
  auto fresh = [&](const std::vector<int64_t>& prompt) {
    return Generate(*decoder, prompt, 6, {}, sampler);
  };
  GenerationCache cache;
  std::vector<int64_t> prompt{5, 17, 99, 4, 60};
  std::vector<int64_t> first = Generate(*decoder, prompt, 6, {}, sampler, nullptr, &cache);
  EXPECT_EQ(first, fresh(prompt));
  EXPECT_EQ(cache.kv.length(), 10);  // prompt + generated but the last
  // The next turn extends the conversation: only the new tokens are prefilled.
  std::vector<int64_t> turn2 = prompt;
  turn2.insert(turn2.end(), first.begin(), first.end());
  turn2.insert(turn2.end(), {7, 8, 9});
  const std::vector<int64_t> second = Generate(*decoder, turn2, 6, {}, sampler, nullptr, &cache);
  EXPECT_EQ(second, fresh(turn2));
  EXPECT_EQ(cache.kv.length(), static_cast<int64_t>(turn2.size()) + 5);
  // A prompt that diverges after 3 ids cuts the cache back to them.
  std::vector<int64_t> other{5, 17, 99, 3, 3, 3};
  EXPECT_EQ(Generate(*decoder, other, 6, {}, sampler, nullptr, &cache), fresh(other));
  EXPECT_EQ(cache.kv.length(), 11);
  // The same prompt again: everything but its last id is reused.
  EXPECT_EQ(Generate(*decoder, other, 6, {}, sampler, nullptr, &cache), fresh(other));
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(GenerateTest, SamplingDefaultsFollowFlagsThenGenerationConfigThenHfDefaults) {
  ::zt::testing::TempDir dir;
  GenerateRequest request;
  auto defaults = ResolveSamplingOptions(request, dir.path());  // no generation_config.json
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_FALSE(defaults->do_sample);
  EXPECT_EQ(defaults->top_k, 50);
  EXPECT_EQ(defaults->temperature, 1.0);
  EXPECT_EQ(defaults->top_p, 1.0);
  EXPECT_EQ(defaults->repetition_penalty, 1.0);
  // Qwen2.5-Instruct's generation_config.json.
  WriteFile(dir.Join("generation_config.json"),
            R"({"bos_token_id": 151643, "do_sample": true, "eos_token_id": [151645, 151643],
                "pad_token_id": 151643, "repetition_penalty": 1.05, "temperature": 0.7,
                "top_p": 0.8, "top_k": 20})");
  auto qwen = ResolveSamplingOptions(request, dir.path());
  ASSERT_TRUE(qwen.ok()) << qwen.status();
  EXPECT_TRUE(qwen->do_sample);
  EXPECT_EQ(qwen->temperature, 0.7);
  EXPECT_EQ(qwen->top_k, 20);
  EXPECT_EQ(qwen->top_p, 0.8);
  EXPECT_EQ(qwen->repetition_penalty, 1.05);
  request.do_sample = false;
  request.top_k = 5;
  request.temperature = 1.3;
  auto flags = ResolveSamplingOptions(request, dir.path());
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_FALSE(flags->do_sample);
  EXPECT_EQ(flags->top_k, 5);
  EXPECT_EQ(flags->temperature, 1.3);
  EXPECT_EQ(flags->top_p, 0.8);
  request.top_k.reset();
  WriteFile(dir.Join("generation_config.json"), R"({"top_k": "twenty"})");
  EXPECT_THAT(ResolveSamplingOptions(request, dir.path()).status().message(),
              HasSubstr("generation_config.json: \"top_k\" is \"twenty\", expected an integer"));
  request = GenerateRequest();
  request.do_sample = true;
  request.top_p = 2.0;
  WriteFile(dir.Join("generation_config.json"), "{}");
  EXPECT_THAT(ResolveSamplingOptions(request, dir.path()).status().message(),
              HasSubstr("--top_p 2: expected a number in [0, 1]"));
}

TEST(GenerateTest, StopIdsAreTheTemplateEndTokenTheTokenizerEosAndTheConfigEosIds) {
  const std::string qwen3 = ::zt::testing::TestDataPath("qwen3-tokenizer");
  auto tokenizer = data::Tokenizer::FromDirectory(qwen3);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  auto chat = data::LoadChatConfig(qwen3, "");
  ASSERT_TRUE(chat.ok()) << chat.status();
  ::zt::testing::TempDir dir;
  // No config files: the Qwen template's <|im_end|> (also this tokenizer's eos_token).
  EXPECT_EQ(*StopTokenIds(dir.path(), **tokenizer, *chat), std::vector<int64_t>{151645});
  WriteFile(dir.Join("config.json"), R"({"eos_token_id": 151643})");
  WriteFile(dir.Join("generation_config.json"), R"({"eos_token_id": [151645, 7]})");
  EXPECT_EQ(*StopTokenIds(dir.path(), **tokenizer, *chat),
            (std::vector<int64_t>{7, 151643, 151645}));
  // Llama 3's <|eot_id|> is not in this vocabulary: only the config ids and the eos token.
  data::TokenizerChatConfig llama = *chat;
  llama.kind = data::ChatTemplateKind::kLlama3;
  llama.eos_token = "<|endoftext|>";
  EXPECT_EQ(*StopTokenIds(dir.path(), **tokenizer, llama),
            (std::vector<int64_t>{7, 151643, 151645}));
  WriteFile(dir.Join("generation_config.json"), R"({"eos_token_id": "<|im_end|>"})");
  EXPECT_THAT(StopTokenIds(dir.path(), **tokenizer, *chat).status().message(),
              HasSubstr("generation_config.json: \"eos_token_id\" is \"<|im_end|>\", expected an "
                        "id or a list of ids"));
}

TEST(GenerateTest, ErrorsNameTheFileAndGiveTheHint) {
  ::zt::testing::TempDir dir;
  std::istringstream in;
  std::ostringstream out;
  GenerateRequest request;
  request.model = dir.Join("missing");
  request.prompts = {"hi"};
  absl::Status missing = RunGenerate(request, in, out);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(),
              HasSubstr("missing/config.json (hint: --model takes an HF model folder"));

  request.model = GoldenDir("qwen3");  // no tokenizer files
  absl::Status no_tokenizer = RunGenerate(request, in, out);
  EXPECT_THAT(no_tokenizer.message(),
              HasSubstr("qwen3/tokenizer.json (hint: the model folder needs its tokenizer"));

  request.tokenizer = ::zt::testing::TestDataPath("qwen3-tokenizer");
  request.adapter = GoldenDir("qwen2") + "/adapter";  // trained on another base
  absl::Status wrong_base = RunGenerate(request, in, out);
  EXPECT_EQ(wrong_base.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong_base.message(),
              HasSubstr("adapter/adapter_model.safetensors: tensor \"base_model.model."));
  EXPECT_THAT(wrong_base.message(), HasSubstr("(hint: maybe wrong base model?)"));

  request.adapter.clear();
  request.model = dir.Join("missing");
  request.temperature = 0.3;  // greedy: HF warns that it has no effect
  std::ostringstream err;
  EXPECT_EQ(RunGenerate(request, in, out, &err).code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(err.str(), HasSubstr("decoding is greedy (no --do_sample), so --temperature, --top_k "
                                   "and --top_p have no effect"));
  request.do_sample = true;
  std::ostringstream quiet;
  EXPECT_EQ(RunGenerate(request, in, out, &quiet).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(quiet.str(), "");
  request.max_new_tokens = 0;
  EXPECT_THAT(RunGenerate(request, in, out).message(),
              HasSubstr("--max_new_tokens 0, expected >= 1"));
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace zt::worker::model
