// One turn of a conversation as chat templates see it (HF's message dicts): role, content,
// optional reasoning_content (Qwen3) and tool calls; plus parsing from JSON with errors that
// name the record and field.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zt::worker::data {

struct ToolCall {
  std::string name;
  nlohmann::ordered_json arguments;  // an object (rendered with tojson) or a string
};

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", "tool"
  std::string content;  // "" for null content
  std::optional<std::string> reasoning_content;
  std::vector<ToolCall> tool_calls;
};

// Parses [{"role", "content", ["reasoning_content"], ["tool_calls"]}, ...]; a tool call is
// {"function": {"name", "arguments"}} (OpenAI form) or {"name", "arguments"}. `where` prefixes
// errors ("data.jsonl:12: messages[3].content: expected a string or null, got 5").
absl::StatusOr<std::vector<ChatMessage>> ParseChatMessages(const nlohmann::ordered_json& messages,
                                                           absl::string_view where);

}  // namespace zt::worker::data
