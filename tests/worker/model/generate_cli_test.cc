// End to end through the built zerotune-worker binary: `generate` on a tiny random Qwen3 folder
// written by init-model (real Qwen3 tokenizer and chat template), --prompt and interactive stdin,
// against an in-process reference (chat template rendering + decoder.h's GreedyGenerate, whose
// ids match HF's) decoded by the tokenizer; seeded sampling; errors.
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"
#include "tests/worker/model/golden_models.h"
#include "worker/data/chat_template.h"
#include "worker/data/tokenizer.h"
#include "worker/model/decoder.h"
#include "worker/model/model_folder.h"

namespace zt::worker::model {
namespace {

using ::testing::HasSubstr;

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

// Runs `zerotune-worker <args>`, with `stdin_text` piped to it.
CliRun Worker(const std::string& args, const ::zt::testing::TempDir& dir,
              const std::string& stdin_text = "") {
  const std::string in_path = dir.Join("stdin.txt");
  std::ofstream(in_path) << stdin_text;
  const std::string err_path = dir.Join("stderr.txt");
  CliRun run;
  FILE* pipe = popen(
      (std::string(ZT_WORKER_BINARY) + " " + args + " <" + in_path + " 2>" + err_path).c_str(),
      "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_path);
  std::ostringstream text;
  text << err.rdbuf();
  run.err = text.str();
  return run;
}

constexpr int kMaxNew = 8;

class GenerateCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ::zt::testing::TempDir();
    model_ = dir_->Join("tiny");
    CliRun init =
        Worker("init-model --arch qwen3 --preset tiny --dtype fp32 --seed 5 --tokenizer " +
                   ::zt::testing::TestDataPath("qwen3-tokenizer") + " --out " + model_,
               *dir_);
    ASSERT_EQ(init.exit_code, 0) << init.err;
    tokenizer_ = data::Tokenizer::FromDirectory(model_)->release();
    auto decoder = LoadModelFolder(model_, at::kFloat);
    ASSERT_TRUE(decoder.ok()) << decoder.status();
    decoder_ = new Decoder(std::move(*decoder));
  }
  static void TearDownTestSuite() {
    delete decoder_;
    delete tokenizer_;
    delete dir_;
  }

  // The reply the command must print for `messages`: greedy ids of the rendered prompt, cut
  // after <|im_end|> / <|endoftext|>, decoded without special tokens.
  static std::string Reference(const std::vector<data::ChatMessage>& messages) {
    data::ChatRenderOptions options;
    options.add_generation_prompt = true;
    auto chat = data::RenderChat(data::ChatTemplateKind::kQwen3, messages, options);
    EXPECT_TRUE(chat.ok()) << chat.status();
    auto ids = tokenizer_->EncodeIds(chat->text);
    EXPECT_TRUE(ids.ok()) << ids.status();
    const at::Tensor prompt =
        at::tensor(std::vector<int64_t>(ids->begin(), ids->end()), at::kLong).unsqueeze(0);
    std::vector<int32_t> reply;
    for (int64_t id : GreedyGenerate(*decoder_, prompt, kMaxNew)) {
      reply.push_back(static_cast<int32_t>(id));
      if (id == tokenizer_->TokenToId("<|im_end|>") || id == tokenizer_->TokenToId("<|endoftext|>"))
        break;
    }
    auto text = tokenizer_->Decode(reply, /*skip_special_tokens=*/true);
    EXPECT_TRUE(text.ok()) << text.status();
    return *text;
  }

  static ::zt::testing::TempDir* dir_;
  static std::string model_;
  static data::Tokenizer* tokenizer_;
  static Decoder* decoder_;
};

::zt::testing::TempDir* GenerateCliTest::dir_ = nullptr;
std::string GenerateCliTest::model_;
data::Tokenizer* GenerateCliTest::tokenizer_ = nullptr;
Decoder* GenerateCliTest::decoder_ = nullptr;

TEST_F(GenerateCliTest, PromptStreamsTheGreedyReply) {
  const std::string flags = " --max_new_tokens " + std::to_string(kMaxNew);
  CliRun run = Worker("generate --model " + model_ + " --prompt \"你好\"" + flags, *dir_);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string expected = Reference({{"user", "你好", std::nullopt, {}}});
  EXPECT_EQ(run.out, expected + "\n");
  EXPECT_EQ(data::Utf8Lossy(run.out), run.out);
}

TEST_F(GenerateCliTest, InteractiveChatKeepsTheHistoryUntilExit) {
  CliRun run = Worker("generate --model " + model_ + " --max_new_tokens " + std::to_string(kMaxNew),
                      *dir_, "Hello\n你好吗？\nexit\nnever read\n");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::vector<data::ChatMessage> messages{{"user", "Hello", std::nullopt, {}}};
  const std::string first = Reference(messages);
  messages.push_back({"assistant", first, std::nullopt, {}});
  messages.push_back({"user", "你好吗？", std::nullopt, {}});
  const std::string second = Reference(messages);
  EXPECT_EQ(run.out, first + "\n" + second + "\n");
  EXPECT_EQ(run.err, "");  // no "> " markers when stdin is not a terminal
  // Two --prompt flags are the same two turns; --no_stream prints the same text.
  CliRun prompts =
      Worker("generate --model " + model_ + " --max_new_tokens " + std::to_string(kMaxNew) +
                 " --prompt Hello --prompt \"你好吗？\" --no_stream",
             *dir_);
  ASSERT_EQ(prompts.exit_code, 0) << prompts.err;
  EXPECT_EQ(prompts.out, run.out);
}

TEST_F(GenerateCliTest, SeededSamplingIsReproducible) {
  const std::string args = "generate --model " + model_ +
                           " --prompt hi --max_new_tokens 8 --do_sample "
                           "--temperature 1.5 --top_k 0 --top_p 0.99 --repetition_penalty 1.1";
  CliRun a = Worker(args + " --seed 11", *dir_);
  CliRun b = Worker(args + " --seed 11", *dir_);
  CliRun c = Worker(args + " --seed 12", *dir_);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  EXPECT_NE(a.out, Reference({{"user", "hi", std::nullopt, {}}}) + "\n");  // not the greedy reply
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
