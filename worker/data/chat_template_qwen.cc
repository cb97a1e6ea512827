// The ChatML renderers: Qwen2-Instruct, Qwen2.5-Instruct and Qwen3, each following its model's
// Jinja template line by line (the template texts are in tests/data/chat_templates/).
#include "worker/data/chat_template_renderers.h"

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "worker/data/chat_builder.h"
#include "worker/data/python_json.h"

namespace zt::worker::data {
namespace {

constexpr char kToolsHeader[] =
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
constexpr char kToolsFooter[] =
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
    "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
    "\"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n";

// "<|im_start|>role\n" + content + "<|im_end|>\n" with its parts labelled.
void PlainTurn(ChatBuilder& b, int i, const ChatMessage& m) {
  b.Add("<|im_start|>", i, m.role, TurnPart::kStart);
  b.Add(m.role + "\n", i, m.role, TurnPart::kRoleName);
  b.Add(m.content, i, m.role, TurnPart::kContent);
  b.Add("<|im_end|>", i, m.role, TurnPart::kEnd);
  b.Add("\n", i, m.role, TurnPart::kSeparator);
}

void EndTurn(ChatBuilder& b, int i, const std::string& role) {
  b.Add("<|im_end|>", i, role, TurnPart::kEnd);
  b.Add("\n", i, role, TurnPart::kSeparator);
}

// The "# Tools" system block both Qwen2.5 and Qwen3 write when tools are given.
void ToolsSystemBlock(ChatBuilder& b, const std::vector<ChatMessage>& messages,
                      const ChatRenderOptions& options, const char* default_system, bool qwen3) {
  const bool has_system = !messages.empty() && messages[0].role == "system";
  const int index = has_system ? 0 : -1;
  b.Add("<|im_start|>", index, "system", TurnPart::kStart);
  b.Add("system\n", index, "system", TurnPart::kRoleName);
  if (has_system) {
    b.Add(messages[0].content, 0, "system", TurnPart::kContent);
    if (qwen3) b.Add("\n\n", 0, "system", TurnPart::kToolCall);
  } else if (default_system != nullptr) {
    b.Add(default_system, -1, "system", TurnPart::kContent);
  }
  const std::string header = std::string(qwen3 ? "" : "\n\n") + kToolsHeader;
  b.Add(header, index, "system", TurnPart::kToolCall);
  for (const auto& tool : options.tools) b.Add("\n" + PythonJsonDumps(tool), index, "system", TurnPart::kToolCall);
  // The footer ends with "<|im_end|>\n": label those as the turn's end like every other turn.
  const std::string footer = kToolsFooter;
  b.Add(footer.substr(0, footer.size() - 11), index, "system", TurnPart::kToolCall);
  EndTurn(b, index, "system");
}

void ToolResponse(ChatBuilder& b, const std::vector<ChatMessage>& messages, int i) {
  const bool first_of_run = i == 0 || messages[i - 1].role != "tool";
  const bool last_of_run = i + 1 == static_cast<int>(messages.size()) || messages[i + 1].role != "tool";
  if (first_of_run) {
    b.Add("<|im_start|>", i, "tool", TurnPart::kStart);
    b.Add("user", i, "tool", TurnPart::kRoleName);
  }
  b.Add("\n<tool_response>\n", i, "tool", TurnPart::kRoleName);
  b.Add(messages[i].content, i, "tool", TurnPart::kContent);
  b.Add("\n</tool_response>", i, "tool", TurnPart::kRoleName);
  if (last_of_run) EndTurn(b, i, "tool");
}

void GenerationPrompt(ChatBuilder& b, const ChatRenderOptions& options, bool qwen3) {
  if (!options.add_generation_prompt) return;
  b.Add("<|im_start|>assistant\n", -1, "", TurnPart::kGenerationPrompt);
  if (qwen3 && options.enable_thinking.has_value() && !*options.enable_thinking) {
    b.Add("<think>\n\n</think>\n\n", -1, "", TurnPart::kGenerationPrompt);
  }
}

std::string StripChars(std::string s, bool left, bool right) {
  if (left) s.erase(0, s.find_first_not_of('\n') == std::string::npos ? s.size() : s.find_first_not_of('\n'));
  if (right) {
    const size_t last = s.find_last_not_of('\n');
    s.erase(last == std::string::npos ? 0 : last + 1);
  }
  return s;
}

}  // namespace

RenderedChat RenderQwen2(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options) {
  ChatBuilder b;
  for (int i = 0; i < static_cast<int>(messages.size()); ++i) {
    if (i == 0 && messages[0].role != "system") {
      PlainTurn(b, -1, ChatMessage{"system", "You are a helpful assistant.", std::nullopt, {}});
    }
    PlainTurn(b, i, messages[i]);
  }
  GenerationPrompt(b, options, false);
  return b.Take();
}

RenderedChat RenderQwen25(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options) {
  static constexpr char kDefault[] = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
  ChatBuilder b;
  const bool has_system = !messages.empty() && messages[0].role == "system";
  if (!options.tools.empty()) {
    ToolsSystemBlock(b, messages, options, kDefault, false);
  } else {
    PlainTurn(b, has_system ? 0 : -1, has_system ? messages[0] : ChatMessage{"system", kDefault, std::nullopt, {}});
  }
  for (int i = 0; i < static_cast<int>(messages.size()); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || (m.role == "system" && i != 0) || (m.role == "assistant" && m.tool_calls.empty())) {
      PlainTurn(b, i, m);
    } else if (m.role == "assistant") {
      b.Add("<|im_start|>", i, m.role, TurnPart::kStart);
      b.Add(m.role, i, m.role, TurnPart::kRoleName);
      if (!m.content.empty()) {
        b.Add("\n", i, m.role, TurnPart::kRoleName);
        b.Add(m.content, i, m.role, TurnPart::kContent);
      }
      for (const ToolCall& call : m.tool_calls) {
        b.Add("\n<tool_call>\n{\"name\": \"", i, m.role, TurnPart::kToolCall);
        b.Add(call.name, i, m.role, TurnPart::kContent);
        b.Add("\", \"arguments\": ", i, m.role, TurnPart::kToolCall);
        b.Add(PythonJsonDumps(call.arguments), i, m.role, TurnPart::kContent);
        b.Add("}\n</tool_call>", i, m.role, TurnPart::kToolCall);
      }
      EndTurn(b, i, m.role);
    } else if (m.role == "tool") {
      ToolResponse(b, messages, i);
    }
  }
  GenerationPrompt(b, options, false);
  return b.Take();
}

namespace {

// Qwen3: the index of the last real user query (tool responses sent as user turns do not count).
int LastQueryIndex(const std::vector<ChatMessage>& messages) {
  for (int i = static_cast<int>(messages.size()) - 1; i >= 0; --i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" && !(absl::StartsWith(m.content, "<tool_response>") &&
                              absl::EndsWith(m.content, "</tool_response>"))) {
      return i;
    }
  }
  return static_cast<int>(messages.size()) - 1;
}

void Qwen3Assistant(ChatBuilder& b, const std::vector<ChatMessage>& messages, int i, int last_query) {
  const ChatMessage& m = messages[i];
  std::string content = m.content;
  std::string reasoning;
  if (m.reasoning_content.has_value()) {
    reasoning = *m.reasoning_content;
  } else if (absl::StrContains(m.content, "</think>")) {
    std::vector<std::string> parts = absl::StrSplit(m.content, "</think>");
    content = StripChars(parts.back(), true, false);
    std::vector<std::string> before = absl::StrSplit(StripChars(parts.front(), false, true), "<think>");
    reasoning = StripChars(before.back(), true, false);
  }
  const bool last = i + 1 == static_cast<int>(messages.size());
  b.Add("<|im_start|>", i, m.role, TurnPart::kStart);
  b.Add(m.role + "\n", i, m.role, TurnPart::kRoleName);
  if (i > last_query && (last || !reasoning.empty())) {
    b.Add("<think>\n", i, m.role, TurnPart::kReasoning);
    b.Add(StripChars(reasoning, true, true), i, m.role, TurnPart::kContent);
    b.Add("\n</think>\n\n", i, m.role, TurnPart::kReasoning);
    content = StripChars(content, true, false);
  }
  b.Add(content, i, m.role, TurnPart::kContent);
  for (size_t k = 0; k < m.tool_calls.size(); ++k) {
    const ToolCall& call = m.tool_calls[k];
    if (k > 0 || !content.empty()) b.Add("\n", i, m.role, TurnPart::kToolCall);
    b.Add("<tool_call>\n{\"name\": \"", i, m.role, TurnPart::kToolCall);
    b.Add(call.name, i, m.role, TurnPart::kContent);
    b.Add("\", \"arguments\": ", i, m.role, TurnPart::kToolCall);
    b.Add(call.arguments.is_string() ? call.arguments.get<std::string>() : PythonJsonDumps(call.arguments), i,
          m.role, TurnPart::kContent);
    b.Add("}\n</tool_call>", i, m.role, TurnPart::kToolCall);
  }
  EndTurn(b, i, m.role);
}

}  // namespace

RenderedChat RenderQwen3(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options) {
  ChatBuilder b;
  const bool has_system = !messages.empty() && messages[0].role == "system";
  if (!options.tools.empty()) {
    ToolsSystemBlock(b, messages, options, nullptr, true);
  } else if (has_system) {
    PlainTurn(b, 0, messages[0]);
  }
  const int last_query = LastQueryIndex(messages);
  for (int i = 0; i < static_cast<int>(messages.size()); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || (m.role == "system" && i != 0)) {
      PlainTurn(b, i, m);
    } else if (m.role == "assistant") {
      Qwen3Assistant(b, messages, i, last_query);
    } else if (m.role == "tool") {
      ToolResponse(b, messages, i);
    }
  }
  GenerationPrompt(b, options, true);
  return b.Take();
}

}  // namespace zt::worker::data
