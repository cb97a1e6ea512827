#include "worker/data/render_chat_command.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/command_status.h"
#include "worker/data/chat_template.h"

namespace zt::worker::data {
namespace {

struct RenderChatArgs {
  std::string tokenizer;
  std::string messages;
  std::string tools;
  std::string template_name;
  std::string system;
  std::string enable_thinking;
  bool add_generation_prompt = false;
};

absl::StatusOr<nlohmann::ordered_json> ReadJson(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(flag, ": cannot open '", path, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  auto json = nlohmann::ordered_json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": not valid JSON"));
  return json;
}

absl::Status Run(const RenderChatArgs& args, bool system_given) {
  ZT_ASSIGN_OR_RETURN(TokenizerChatConfig config, LoadChatConfig(args.tokenizer, args.template_name));
  ZT_ASSIGN_OR_RETURN(nlohmann::ordered_json doc, ReadJson(args.messages, "--messages"));
  ChatRenderOptions options;
  options.add_generation_prompt = args.add_generation_prompt;
  options.bos_token = config.bos_token;
  options.eos_token = config.eos_token;
  if (system_given) options.system = args.system;
  if (!args.enable_thinking.empty()) options.enable_thinking = args.enable_thinking == "true";
  nlohmann::ordered_json messages = doc;
  if (doc.is_object()) {
    messages = doc.contains("messages") ? doc["messages"] : nlohmann::ordered_json();
    if (doc.contains("tools") && doc["tools"].is_array()) {
      for (const auto& tool : doc["tools"]) options.tools.push_back(tool);
    }
  }
  if (!args.tools.empty()) {
    ZT_ASSIGN_OR_RETURN(nlohmann::ordered_json tools, ReadJson(args.tools, "--tools"));
    if (!tools.is_array()) return absl::InvalidArgumentError(absl::StrCat("--tools ", args.tools, ": expected a JSON array"));
    for (const auto& tool : tools) options.tools.push_back(tool);
  }
  ZT_ASSIGN_OR_RETURN(std::vector<ChatMessage> parsed, ParseChatMessages(messages, args.messages));
  ZT_ASSIGN_OR_RETURN(RenderedChat chat, RenderChat(config.kind, parsed, options));
  std::cout << chat.text << std::flush;
  return absl::OkStatus();
}

}  // namespace

void AddRenderChatCommand(CLI::App& app) {
  auto args = std::make_shared<RenderChatArgs>();
  CLI::App* cmd = app.add_subcommand("render-chat", "Render a conversation with the model's chat template");
  cmd->add_option("--tokenizer", args->tokenizer, "Folder with tokenizer_config.json")->required();
  cmd->add_option("--messages", args->messages, "JSON file: [messages] or {messages, tools}")->required();
  cmd->add_flag("--add_generation_prompt", args->add_generation_prompt, "End with the assistant header");
  cmd->add_option("--template", args->template_name, "qwen2, qwen2.5, qwen3, llama3 or alpaca (default: recognise)");
  CLI::Option* system = cmd->add_option("--system", args->system, "System prompt replacing the template's default");
  cmd->add_option("--tools", args->tools, "JSON file with an array of tool (function) schemas");
  cmd->add_option("--enable_thinking", args->enable_thinking, "Qwen3: false adds the empty think block")
      ->check(CLI::IsMember({"true", "false"}));
  cmd->callback([args, system]() { ExitIfError("render-chat", Run(*args, system->count() > 0)); });
}

}  // namespace zt::worker::data
