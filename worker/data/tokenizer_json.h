// Parsing HF tokenizers' tokenizer.json into plain data (no behaviour). Supported is what
// byte-level BPE tokenizers (GPT-2, Qwen, Llama-3) use; anything else is an error naming the
// JSON path, the value found and what is supported, so a tokenizer is never half-understood.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/data/added_vocabulary.h"
#include "worker/data/regex_splitter.h"

namespace zt::worker::data {

// One pre-tokenizer step that cuts pieces (Split, or ByteLevel with use_regex).
struct SplitSpec {
  std::string pattern;
  bool is_regex = true;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
};

struct TokenizerSpec {
  std::vector<AddedToken> added_tokens;
  bool nfc = false;                 // normalizer: null, NFC, or a Sequence of NFC
  std::vector<SplitSpec> splits;    // pre-tokenizer steps in order
  bool byte_level = false;          // a ByteLevel pre-tokenizer is present
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  bool ignore_merges = false;
  // Ids the post-processor puts around a single sequence when special tokens are added
  // (TemplateProcessing; empty for ByteLevel / null).
  std::vector<int32_t> prefix_ids;
  std::vector<int32_t> suffix_ids;
};

// The GPT-2 regex a ByteLevel pre-tokenizer applies when use_regex is true.
extern const char kGpt2Pattern[];

// Parses the text of a tokenizer.json; `source` (a path) prefixes every error message.
absl::StatusOr<TokenizerSpec> ParseTokenizerJson(absl::string_view json_text, absl::string_view source);

}  // namespace zt::worker::data
