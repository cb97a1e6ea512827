#include "worker/data/chat_message.h"

#include "absl/strings/str_cat.h"

namespace zt::worker::data {
namespace {

using Json = nlohmann::ordered_json;

std::string Shown(const Json& value) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

absl::Status FieldError(absl::string_view where, absl::string_view path, absl::string_view expected,
                        const Json* got) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", path, ": expected ", expected, ", got ",
                                                 got == nullptr ? "nothing" : Shown(*got)));
}

absl::StatusOr<ToolCall> ParseToolCall(const Json& value, absl::string_view where, const std::string& path) {
  if (!value.is_object()) return FieldError(where, path, "an object", &value);
  const Json* call = &value;
  std::string call_path = path;
  if (value.contains("function")) {
    call = &value["function"];
    call_path += ".function";
    if (!call->is_object()) return FieldError(where, call_path, "an object", call);
  }
  ToolCall out;
  auto name = call->find("name");
  if (name == call->end() || !name->is_string()) {
    return FieldError(where, call_path + ".name", "a string", name == call->end() ? nullptr : &*name);
  }
  out.name = name->get<std::string>();
  auto arguments = call->find("arguments");
  if (arguments != call->end()) {
    if (!arguments->is_object() && !arguments->is_string()) {
      return FieldError(where, call_path + ".arguments", "an object or a JSON string", &*arguments);
    }
    out.arguments = *arguments;
  } else {
    out.arguments = Json::object();
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<ChatMessage>> ParseChatMessages(const Json& messages, absl::string_view where) {
  if (!messages.is_array()) return FieldError(where, "messages", "an array", &messages);
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    const std::string path = absl::StrCat("messages[", i, "]");
    if (!m.is_object()) return FieldError(where, path, "an object", &m);
    ChatMessage message;
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) {
      return FieldError(where, path + ".role", "a string", role == m.end() ? nullptr : &*role);
    }
    message.role = role->get<std::string>();
    auto content = m.find("content");
    if (content != m.end() && !content->is_null()) {
      if (!content->is_string()) return FieldError(where, path + ".content", "a string or null", &*content);
      message.content = content->get<std::string>();
    } else if (message.role != "assistant") {
      return FieldError(where, path + ".content", "a string (only assistant turns may omit it)",
                        content == m.end() ? nullptr : &*content);
    }
    auto reasoning = m.find("reasoning_content");
    if (reasoning != m.end() && !reasoning->is_null()) {
      if (!reasoning->is_string()) return FieldError(where, path + ".reasoning_content", "a string", &*reasoning);
      message.reasoning_content = reasoning->get<std::string>();
    }
    auto calls = m.find("tool_calls");
    if (calls != m.end() && !calls->is_null()) {
      if (!calls->is_array()) return FieldError(where, path + ".tool_calls", "an array", &*calls);
      for (size_t k = 0; k < calls->size(); ++k) {
        auto call = ParseToolCall((*calls)[k], where, absl::StrCat(path, ".tool_calls[", k, "]"));
        if (!call.ok()) return call.status();
        message.tool_calls.push_back(*std::move(call));
      }
    }
    out.push_back(std::move(message));
  }
  return out;
}

}  // namespace zt::worker::data
