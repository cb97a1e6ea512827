// Chat templates: rendering equals transformers' apply_chat_template on the committed reference
// set (tests/golden/chat_template_goldens.py), templates are recognised by SHA-256 only, and
// spans label every byte.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.h"
#include "tests/worker/data/data_test_support.h"
#include "worker/data/alpaca_prompt.h"
#include "worker/data/chat_template.h"
#include "worker/data/python_json.h"

namespace zt::worker::data {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(ChatTemplateTest, RendersLikeTransformers) {
  const auto cases = nlohmann::ordered_json::parse(ReadAll(testing::TestDataPath("chat_templates/render_cases.json")));
  ASSERT_GE(cases.size(), 100u);
  int with_tools = 0, failures = 0;
  for (size_t c = 0; c < cases.size(); ++c) {
    const auto& rec = cases[c];
    auto kind = ParseChatTemplateName(rec["template"].get<std::string>());
    ASSERT_TRUE(kind.ok());
    auto messages = ParseChatMessages(rec["messages"], "case");
    ASSERT_TRUE(messages.ok()) << messages.status();
    ChatRenderOptions options;
    options.add_generation_prompt = rec["add_generation_prompt"].get<bool>();
    if (rec["enable_thinking"].is_boolean()) options.enable_thinking = rec["enable_thinking"].get<bool>();
    for (const auto& tool : rec["tools"]) options.tools.push_back(tool);
    with_tools += !options.tools.empty();
    options.bos_token = *kind == ChatTemplateKind::kLlama3 ? "<|begin_of_text|>" : "";
    auto chat = RenderChat(*kind, *messages, options);
    ASSERT_TRUE(chat.ok()) << chat.status();
    const std::string expected = rec["rendered"].get<std::string>();
    if (chat->text != expected && ++failures <= 5) {
      ADD_FAILURE() << "case " << c << " (" << rec["template"] << ")\n--- got\n" << chat->text << "\n--- expected\n" << expected;
    }
    size_t cursor = 0;
    for (const RenderedSpan& span : chat->spans) {
      ASSERT_EQ(span.span.begin, cursor) << "case " << c;
      cursor = span.span.end;
    }
    EXPECT_EQ(cursor, chat->text.size()) << "case " << c;
  }
  EXPECT_GE(with_tools, 20);
  EXPECT_EQ(failures, 0);
}

TEST(ChatTemplateTest, RecognisedBySha256OfTheExactText) {
  for (const char* name : {"qwen2", "qwen2.5", "qwen3", "llama3"}) {
    const std::string text = ReadAll(testing::TestDataPath(std::string("chat_templates/") + name + ".jinja"));
    auto kind = ChatTemplateForSha256(Sha256Hex(text));
    ASSERT_TRUE(kind.has_value()) << name;
    EXPECT_EQ(ChatTemplateName(*kind), name);
    EXPECT_FALSE(ChatTemplateForSha256(Sha256Hex(text + " ")).has_value()) << "one more byte is another template";
  }
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto qwen3 = LoadChatConfig(testing::TestDataPath("qwen3-tokenizer"), "");
  ASSERT_TRUE(qwen3.ok()) << qwen3.status();
  EXPECT_EQ(qwen3->kind, ChatTemplateKind::kQwen3);
  EXPECT_EQ(qwen3->eos_token, "<|im_end|>");
}

TEST(ChatTemplateTest, UnknownTemplateNamesTheFlagAndChoices) {
  zt::testing::TempDir dir;
  std::ofstream(dir.Join("tokenizer_config.json")) << R"({"chat_template": "{{ messages }}", "eos_token": "x"})";
  auto config = LoadChatConfig(dir.path(), "");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("is not a shipped template; pass --template (choices: qwen2, qwen2.5, qwen3, llama3, alpaca)"),
            std::string::npos) << config.status();
  EXPECT_EQ(ParseChatTemplateName("chatml").status().message(),
            "--template 'chatml' is not a shipped chat template (choices: qwen2, qwen2.5, qwen3, llama3, alpaca)");
  auto forced = LoadChatConfig(dir.path(), "qwen2.5");
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(forced->kind, ChatTemplateKind::kQwen25);
}

TEST(ChatTemplateTest, SystemOverrideReplacesTheDefault) {
  std::vector<ChatMessage> messages = {{"user", "hi", std::nullopt, {}}};
  ChatRenderOptions options;
  EXPECT_EQ(RenderChat(ChatTemplateKind::kQwen25, messages, options)->text,
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nhi<|im_end|>\n");
  EXPECT_EQ(RenderChat(ChatTemplateKind::kQwen3, messages, options)->text, "<|im_start|>user\nhi<|im_end|>\n");
  options.system = "Be brief.";
  EXPECT_EQ(RenderChat(ChatTemplateKind::kQwen2, messages, options)->text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n");
  messages.push_back({"tool", "x", std::nullopt, {}});
  EXPECT_EQ(RenderChat(ChatTemplateKind::kLlama3, messages, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ChatTemplateTest, AlpacaPromptIsStanfords) {
  RenderedChat chat = RenderAlpacaRecord("Add.", "1 2", std::string("3"), "</s>");
  EXPECT_EQ(chat.text,
            "Below is an instruction that describes a task, paired with an input that provides further context. "
            "Write a response that appropriately completes the request.\n\n### Instruction:\nAdd.\n\n### Input:\n1 2"
            "\n\n### Response:3</s>");
  EXPECT_EQ(RenderAlpacaRecord("Hi.", "", std::nullopt, "").text,
            "Below is an instruction that describes a task. Write a response that appropriately completes the "
            "request.\n\n### Instruction:\nHi.\n\n### Response:");
}

TEST(PythonJsonTest, MatchesJsonDumps) {
  auto value = nlohmann::ordered_json::parse(R"({"b": [1, 2.5, 1e-05, 1e+16, 100.0, 0.0001], "a": "é\n\u0001\"", "c": {}, "d": null})");
  EXPECT_EQ(PythonJsonDumps(value),
            R"({"b": [1, 2.5, 1e-05, 1e+16, 100.0, 0.0001], "a": "é\n\u0001\"", "c": {}, "d": null})");
}

}  // namespace
}  // namespace zt::worker::data
