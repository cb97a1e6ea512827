// One training record of a JSON / JSONL dataset in any of the formats users bring:
//   conversations  {"id", "conversations": [{"from": "user"|"human"|"assistant"|"gpt"|"system", "value"}]}
//   messages       {"messages": [{"role", "content", ...}], ["tools": [...]]}
//   alpaca         {"instruction", "input", "output", ["system"]}
//   text           {"text"}
//   tokenized      {"input_ids": [ints], ["labels": [ints, -100 = not trained]]}: pre-tokenized,
//                  what `zerotune-worker preprocess` writes (without --pack); no labels: every
//                  token trained
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/data/chat_message.h"

namespace zt::worker::data {

enum class DatasetFormat { kAuto, kConversations, kMessages, kAlpaca, kText, kTokenized };

// "auto", "conversations", "messages", "alpaca", "text", "tokenized"; InvalidArgument naming
// --format.
absl::StatusOr<DatasetFormat> ParseDatasetFormat(absl::string_view name);
absl::string_view DatasetFormatName(DatasetFormat format);

struct AlpacaRecord {
  std::string instruction;
  std::string input;
  std::string output;
  std::optional<std::string> system;
};

struct DataRecord {
  DatasetFormat format = DatasetFormat::kAuto;  // never kAuto once parsed
  std::vector<ChatMessage> messages;            // conversations, messages
  std::vector<nlohmann::ordered_json> tools;    // messages
  AlpacaRecord alpaca;                          // alpaca
  std::string text;                             // text
  std::vector<int32_t> input_ids;               // tokenized: ids >= 0 (the vocabulary bound is
                                                // checked where it is known: sample_builder.h)
  std::optional<std::vector<int32_t>> labels;   // tokenized: as long as input_ids, -100 or >= 0
};

// Parses one record. With kAuto the format is taken from the keys present ("input_ids",
// "conversations", "messages", "instruction", "text", in that order: a pre-tokenized record
// that kept its source text trains on its ids). Packed rows (preprocess --pack: position_ids,
// segment_ids) are rejected: their samples would attend across segment boundaries. `where` ("data.jsonl:12") prefixes errors,
// which name the field, the value and what was expected.
absl::StatusOr<DataRecord> ParseDataRecord(const nlohmann::ordered_json& record, DatasetFormat format,
                                           absl::string_view where);

// The conversation a chat template renders for `record` (alpaca: system, user = instruction +
// "\n" + input when input is non-empty, assistant = output). Empty for text records.
std::vector<ChatMessage> RecordConversation(const DataRecord& record);

}  // namespace zt::worker::data
