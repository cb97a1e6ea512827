// End to end through the built zerotune-worker binary: tokenize, render-chat and preprocess,
// checked against the committed HF references.

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/command_run.h"
#include "tests/support/temp_dir.h"
#include "tests/worker/data/data_test_support.h"

namespace zt::worker::data {
namespace {

using CommandResult = ::zt::testing::CommandRun;

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CommandResult Worker(const std::string& args, const zt::testing::TempDir& dir) {
  return ::zt::testing::RunCommand(std::string(ZT_WORKER_BINARY) + " " + args, dir.path());
}

const std::string& Qwen3Dir() {
  static const std::string dir = testing::TestDataPath("qwen3-tokenizer");
  return dir;
}

TEST(WorkerCliTest, TokenizeMatchesHfAndDecodes) {
  zt::testing::TempDir dir;
  auto lines = testing::ReadGzipLines(testing::TestDataPath("tokenizers/qwen3_parity.jsonl.gz"));
  ASSERT_TRUE(lines.ok());
  int checked = 0;
  for (size_t i = 0; i < lines->size() && checked < 6; i += 997) {  // each run loads the binary: few
    const auto rec = nlohmann::json::parse((*lines)[i]);
    if (rec["kind"] != "encode") continue;
    const std::string text = rec["text"].get<std::string>();
    std::ofstream(dir.Join("in.txt"), std::ios::binary) << text;
    CommandResult run = Worker("tokenize --tokenizer " + Quote(Qwen3Dir()) + " --file " + Quote(dir.Join("in.txt")), dir);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(nlohmann::json::parse(run.out), rec["ids"]) << nlohmann::json(text).dump();
    ++checked;
  }
  EXPECT_EQ(checked, 6);
  CommandResult decode = Worker("tokenize --tokenizer " + Quote(Qwen3Dir()) + " --decode --text '[9707, 11, 1879, 0, 151645]'", dir);
  ASSERT_EQ(decode.exit_code, 0) << decode.err;
  EXPECT_EQ(decode.out, "Hello, world!<|im_end|>\n");
  CommandResult missing = Worker("tokenize --tokenizer " + Quote(dir.path()) + " --text x", dir);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("cannot open '" + dir.Join("tokenizer.json") + "'"), std::string::npos) << missing.err;
}

TEST(WorkerCliTest, RenderChatMatchesTransformers) {
  zt::testing::TempDir dir;
  std::ifstream in(testing::TestDataPath("chat_templates/render_cases.json"));
  const auto cases = nlohmann::ordered_json::parse(in);
  int checked = 0, seen = 0;
  for (const auto& rec : cases) {
    if (rec["template"] != "qwen3" || !rec["enable_thinking"].is_null() || seen++ % 4 != 0) continue;
    std::ofstream(dir.Join("messages.json")) << nlohmann::ordered_json{{"messages", rec["messages"]}, {"tools", rec["tools"]}}.dump();
    const std::string flags = rec["add_generation_prompt"].get<bool>() ? " --add_generation_prompt" : "";
    CommandResult run = Worker("render-chat --tokenizer " + Quote(Qwen3Dir()) + " --messages " + Quote(dir.Join("messages.json")) + flags, dir);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.out, rec["rendered"].get<std::string>());
    ++checked;
  }
  EXPECT_GE(checked, 8);
  CommandResult bad = Worker("render-chat --tokenizer " + Quote(Qwen3Dir()) + " --messages x --template chatml", dir);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--template 'chatml' is not a shipped chat template (choices: qwen2, qwen2.5, qwen3, llama3, alpaca)"),
            std::string::npos) << bad.err;
}

TEST(WorkerCliTest, PreprocessWritesIdsAndLabelsAndReportsBadRecords) {
  zt::testing::TempDir dir;
  std::ofstream(dir.Join("data.jsonl"))
      << R"({"conversations": [{"from": "human", "value": "hi <|im_end|>"}, {"from": "gpt", "value": "yo"}]})" "\n"
      << R"({"instruction": "Add", "input": "1 2", "output": "3"})" "\n"
      << R"({"conversations": [{"from": "robot", "value": "x"}]})" "\n";
  const std::string base = "preprocess --tokenizer " + Quote(Qwen3Dir()) + " --data_path " + Quote(dir.Join("data.jsonl")) +
                           " --model_max_length 64 --out " + Quote(dir.Join("out.jsonl"));
  CommandResult failed = Worker(base, dir);
  EXPECT_EQ(failed.exit_code, 2);
  EXPECT_NE(failed.err.find(dir.Join("data.jsonl") + ":3: conversations[0].from: expected"), std::string::npos) << failed.err;
  CommandResult run = Worker(base + " --skip_bad_records", dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("skipped bad records: 1"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("special-token strings in data encoded as text: 1"), std::string::npos) << run.err;
  std::ifstream out(dir.Join("out.jsonl"));
  std::string line;
  int samples = 0;
  while (std::getline(out, line)) {
    const auto rec = nlohmann::json::parse(line);
    const auto ids = rec["input_ids"].get<std::vector<int>>();
    const auto labels = rec["labels"].get<std::vector<int>>();
    ASSERT_EQ(ids.size(), labels.size());
    EXPECT_EQ(labels.back(), 198);  // the "\n" after the final <|im_end|> is trained
    EXPECT_EQ(labels.front(), -100);
    ++samples;
  }
  EXPECT_EQ(samples, 2);
  CommandResult packed = Worker(base + " --skip_bad_records --pack", dir);
  ASSERT_EQ(packed.exit_code, 0) << packed.err;
  std::ifstream rows(dir.Join("out.jsonl"));
  ASSERT_TRUE(std::getline(rows, line));
  const auto row = nlohmann::json::parse(line);
  EXPECT_EQ(row["input_ids"].size(), 64u);
  EXPECT_EQ(row["segment_ids"].back(), 0);  // padding
}

}  // namespace
}  // namespace zt::worker::data
