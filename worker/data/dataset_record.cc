#include "worker/data/dataset_record.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "worker/data/loss_mask.h"

namespace zt::worker::data {
namespace {

using Json = nlohmann::ordered_json;

absl::Status Bad(absl::string_view where, absl::string_view field, absl::string_view expected, const Json* got) {
  std::string shown = got == nullptr ? "nothing" : got->dump(-1, ' ', false, Json::error_handler_t::replace);
  if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", field, ": expected ", expected, ", got ", shown));
}

absl::StatusOr<std::string> StringField(const Json& record, const char* key, absl::string_view where, bool required) {
  auto it = record.find(key);
  if (it == record.end() || it->is_null()) {
    if (required) return Bad(where, key, "a string", nullptr);
    return std::string();
  }
  if (!it->is_string()) return Bad(where, key, "a string", &*it);
  return it->get<std::string>();
}

absl::StatusOr<std::vector<ChatMessage>> ParseConversations(const Json& record, absl::string_view where) {
  auto it = record.find("conversations");
  if (it == record.end() || !it->is_array()) {
    return Bad(where, "conversations", "an array", it == record.end() ? nullptr : &*it);
  }
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& turn = (*it)[i];
    const std::string path = absl::StrCat("conversations[", i, "]");
    if (!turn.is_object()) return Bad(where, path, "an object", &turn);
    auto from = turn.find("from");
    if (from == turn.end() || !from->is_string()) {
      return Bad(where, path + ".from", "a string", from == turn.end() ? nullptr : &*from);
    }
    const std::string f = from->get<std::string>();
    std::string role;
    if (f == "user" || f == "human") role = "user";
    else if (f == "assistant" || f == "gpt") role = "assistant";
    else if (f == "system") role = "system";
    else return Bad(where, path + ".from", "\"user\", \"human\", \"assistant\", \"gpt\" or \"system\"", &*from);
    auto value = turn.find("value");
    if (value == turn.end() || !value->is_string()) {
      return Bad(where, path + ".value", "a string", value == turn.end() ? nullptr : &*value);
    }
    out.push_back({role, value->get<std::string>(), std::nullopt, {}});
  }
  return out;
}

// One id list of a tokenized record: integers in [0, 2^31); `allow_ignore` also admits kIgnoreIndex
// (labels).
absl::StatusOr<std::vector<int32_t>> TokenIds(const Json& record, const char* key, bool allow_ignore,
                                              absl::string_view where) {
  auto it = record.find(key);
  const char* expected = allow_ignore ? "an array of token ids (integers >= 0, or -100 = not trained)"
                                      : "a non-empty array of token ids (integers >= 0)";
  if (it == record.end() || !it->is_array()) return Bad(where, key, expected, it == record.end() ? nullptr : &*it);
  if (!allow_ignore && it->empty()) return Bad(where, key, expected, &*it);
  std::vector<int32_t> ids;
  ids.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& v = (*it)[i];
    constexpr int64_t kMaxId = std::numeric_limits<int32_t>::max();
    bool ok = false;
    int64_t id = 0;
    if (v.is_number_unsigned()) {
      ok = v.get<uint64_t>() <= static_cast<uint64_t>(kMaxId);
      id = ok ? static_cast<int64_t>(v.get<uint64_t>()) : 0;
    } else if (v.is_number_integer()) {
      id = v.get<int64_t>();
      ok = (id >= 0 && id <= kMaxId) || (allow_ignore && id == kIgnoreIndex);
    }
    if (!ok) {
      return Bad(where, absl::StrCat(key, "[", i, "]"),
                 allow_ignore ? "an integer token id >= 0 or -100" : "an integer token id >= 0", &v);
    }
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

absl::Status ParseTokenized(const Json& record, absl::string_view where, DataRecord& out) {
  for (const char* packed : {"position_ids", "segment_ids"}) {
    if (record.contains(packed)) {
      return Bad(where, packed, "no packed rows (preprocess --pack): unpacked records of input_ids and labels",
                 &record[packed]);
    }
  }
  auto ids = TokenIds(record, "input_ids", /*allow_ignore=*/false, where);
  if (!ids.ok()) return ids.status();
  out.input_ids = *std::move(ids);
  auto it = record.find("labels");
  if (it == record.end() || it->is_null()) return absl::OkStatus();
  auto labels = TokenIds(record, "labels", /*allow_ignore=*/true, where);
  if (!labels.ok()) return labels.status();
  if (labels->size() != out.input_ids.size()) {
    return Bad(where, "labels", absl::StrCat("as many labels as input_ids (", out.input_ids.size(), ")"),
               &*it);
  }
  out.labels = *std::move(labels);
  return absl::OkStatus();
}

DatasetFormat DetectFormat(const Json& record) {
  if (record.contains("input_ids")) return DatasetFormat::kTokenized;
  if (record.contains("conversations")) return DatasetFormat::kConversations;
  if (record.contains("messages")) return DatasetFormat::kMessages;
  if (record.contains("instruction")) return DatasetFormat::kAlpaca;
  if (record.contains("text")) return DatasetFormat::kText;
  return DatasetFormat::kAuto;
}

}  // namespace

absl::StatusOr<DatasetFormat> ParseDatasetFormat(absl::string_view name) {
  for (DatasetFormat f : {DatasetFormat::kAuto, DatasetFormat::kConversations, DatasetFormat::kMessages,
                          DatasetFormat::kAlpaca, DatasetFormat::kText, DatasetFormat::kTokenized}) {
    if (name == DatasetFormatName(f)) return f;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--format '", name, "' is not one of auto, conversations, messages, alpaca, text, tokenized"));
}

absl::string_view DatasetFormatName(DatasetFormat format) {
  switch (format) {
    case DatasetFormat::kAuto: return "auto";
    case DatasetFormat::kConversations: return "conversations";
    case DatasetFormat::kMessages: return "messages";
    case DatasetFormat::kAlpaca: return "alpaca";
    case DatasetFormat::kText: return "text";
    case DatasetFormat::kTokenized: return "tokenized";
  }
  return "?";
}

absl::StatusOr<DataRecord> ParseDataRecord(const Json& record, DatasetFormat format, absl::string_view where) {
  if (!record.is_object()) return Bad(where, "(record)", "a JSON object", &record);
  DataRecord out;
  out.format = format == DatasetFormat::kAuto ? DetectFormat(record) : format;
  switch (out.format) {
    case DatasetFormat::kAuto:
      return Bad(where, "(record)", "one of the keys input_ids, conversations, messages, instruction, text",
                 &record);
    case DatasetFormat::kConversations: {
      auto messages = ParseConversations(record, where);
      if (!messages.ok()) return messages.status();
      out.messages = *std::move(messages);
      break;
    }
    case DatasetFormat::kMessages: {
      auto it = record.find("messages");
      auto messages = ParseChatMessages(it == record.end() ? Json() : *it, where);
      if (!messages.ok()) return messages.status();
      out.messages = *std::move(messages);
      auto tools = record.find("tools");
      if (tools != record.end() && !tools->is_null()) {
        if (!tools->is_array()) return Bad(where, "tools", "an array", &*tools);
        for (const Json& tool : *tools) out.tools.push_back(tool);
      }
      break;
    }
    case DatasetFormat::kAlpaca: {
      auto instruction = StringField(record, "instruction", where, true);
      auto input = StringField(record, "input", where, false);
      auto output = StringField(record, "output", where, true);
      for (const auto* s : {&instruction, &input, &output}) {
        if (!s->ok()) return s->status();
      }
      out.alpaca = {*instruction, *input, *output, std::nullopt};
      if (record.contains("system") && !record["system"].is_null()) {
        auto system = StringField(record, "system", where, true);
        if (!system.ok()) return system.status();
        out.alpaca.system = *system;
      }
      break;
    }
    case DatasetFormat::kText: {
      auto text = StringField(record, "text", where, true);
      if (!text.ok()) return text.status();
      out.text = *text;
      break;
    }
    case DatasetFormat::kTokenized: {
      absl::Status parsed = ParseTokenized(record, where, out);
      if (!parsed.ok()) return parsed;
      break;
    }
  }
  if ((out.format == DatasetFormat::kConversations || out.format == DatasetFormat::kMessages) &&
      out.messages.empty()) {
    return Bad(where, out.format == DatasetFormat::kMessages ? "messages" : "conversations", "at least one turn",
               nullptr);
  }
  return out;
}

std::vector<ChatMessage> RecordConversation(const DataRecord& record) {
  if (record.format != DatasetFormat::kAlpaca) return record.messages;
  std::vector<ChatMessage> out;
  const AlpacaRecord& a = record.alpaca;
  if (a.system.has_value()) out.push_back({"system", *a.system, std::nullopt, {}});
  out.push_back({"user", a.input.empty() ? a.instruction : a.instruction + "\n" + a.input, std::nullopt, {}});
  out.push_back({"assistant", a.output, std::nullopt, {}});
  return out;
}

}  // namespace zt::worker::data
