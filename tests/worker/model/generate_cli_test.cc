// End to end through the built zerotune-worker binary: `generate` on a tiny random Qwen3 folder
// written by init-model (real Qwen3 tokenizer and chat template), --prompt and interactive stdin,
// against HF's apply_chat_template + greedy generate() + decode of the same folder
// (tests/data/generation/cli.json); seeded sampling; errors.

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/command_run.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"
#include "tests/worker/model/golden_models.h"
#include "worker/data/tokenizer.h"

namespace zt::worker::model {
namespace {

using ::testing::HasSubstr;

using CliRun = ::zt::testing::CommandRun;

// Runs `zerotune-worker <args>`, with `stdin_text` piped to it.
CliRun Worker(const std::string& args, const ::zt::testing::TempDir& dir,
              const std::string& stdin_text = "") {
  return ::zt::testing::RunCommand(std::string(ZT_WORKER_BINARY) + " " + args, dir.path(),
                                   stdin_text);
}

// tests/data/generation/cli.json: HF's replies for the folder init-model writes.
nlohmann::json CliGolden() {
  std::ifstream in(::zt::testing::TestDataPath("generation/cli.json"));
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

std::string Quoted(const std::string& text) { return "'" + text + "'"; }  // no ' in the goldens

class GenerateCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ::zt::testing::TempDir();
    model_ = dir_->Join("tiny");
    const nlohmann::json golden = CliGolden();
    std::string init;
    for (const auto& arg : golden["init_model"]) init += arg.get<std::string>() + " ";
    CliRun run = Worker(
        init + "--tokenizer " + ::zt::testing::TestDataPath("qwen3-tokenizer") + " --out " + model_,
        *dir_);
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }
  static void TearDownTestSuite() { delete dir_; }

  // The flags of a golden case and the output HF's replies make (one line break after each).
  static std::string Flags(const nlohmann::json& c) {
    std::string flags = " --max_new_tokens " + std::to_string(c["max_new_tokens"].get<int>()) +
                        " --repetition_penalty " +
                        std::to_string(c["repetition_penalty"].get<double>());
    if (!c["system"].is_null()) flags += " --system " + Quoted(c["system"].get<std::string>());
    return flags;
  }
  static std::string Expected(const nlohmann::json& c) {
    std::string out;
    for (const auto& reply : c["replies"]) out += reply.get<std::string>() + "\n";
    return out;
  }

  static ::zt::testing::TempDir* dir_;
  static std::string model_;
};

::zt::testing::TempDir* GenerateCliTest::dir_ = nullptr;
std::string GenerateCliTest::model_;

TEST_F(GenerateCliTest, PromptsStreamHfGreedyReplies) {
  const nlohmann::json golden = CliGolden();
  ASSERT_EQ(golden["cases"].size(), 2u);
  for (const auto& c : golden["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    std::string prompts;
    for (const auto& turn : c["turns"]) prompts += " --prompt " + Quoted(turn.get<std::string>());
    // Streamed for the first case, printed whole (--no_stream) for the second.
    const std::string mode = c["name"] == "two_turns" ? " --no_stream" : "";
    CliRun run = Worker("generate --model " + model_ + prompts + Flags(c) + mode, *dir_);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.out, Expected(c));
    EXPECT_EQ(data::Utf8Lossy(run.out), run.out);
  }
}

TEST_F(GenerateCliTest, InteractiveChatKeepsTheHistoryUntilExit) {
  const nlohmann::json c = CliGolden()["cases"][1];  // two turns
  std::string stdin_text;
  for (const auto& turn : c["turns"]) stdin_text += turn.get<std::string>() + "\n";
  CliRun run =
      Worker("generate --model " + model_ + Flags(c), *dir_, stdin_text + "exit\nnever read\n");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, Expected(c));
  EXPECT_EQ(run.err, "");  // no "> " markers when stdin is not a terminal
}

TEST_F(GenerateCliTest, SeededSamplingIsReproducible) {
  const nlohmann::json greedy =
      CliGolden()["cases"][1];  // its first reply: greedy, "Hello", 8 tokens
  const std::string args = "generate --model " + model_ +
                           " --prompt Hello --max_new_tokens 8 --do_sample "
                           "--temperature 1.5 --top_k 0 --top_p 0.99 --repetition_penalty 1.1";
  CliRun a = Worker(args + " --seed 11", *dir_);
  CliRun b = Worker(args + " --seed 11", *dir_);
  CliRun c = Worker(args + " --seed 12", *dir_);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  EXPECT_NE(a.out, greedy["replies"][0].get<std::string>() + "\n");
}

TEST_F(GenerateCliTest, ErrorsNameTheFileAndTheHint) {
  CliRun missing = Worker("generate --model " + dir_->Join("nope") + " --prompt hi", *dir_);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err,
              HasSubstr("zerotune-worker generate: --model " + dir_->Join("nope") +
                        ": cannot read " + dir_->Join("nope") + "/config.json (hint:"));
  const std::string other = testing::GoldenDir("qwen2") + "/adapter";
  CliRun wrong =
      Worker("generate --model " + model_ + " --adapter " + other + " --prompt hi", *dir_);
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_THAT(wrong.err, HasSubstr("zerotune-worker generate: " + other +
                                   "/adapter_model.safetensors: tensor"));
  EXPECT_THAT(wrong.err, HasSubstr("(hint: maybe wrong base model?)"));
}

}  // namespace
}  // namespace zt::worker::model
