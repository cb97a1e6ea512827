// The added tokens of an HF tokenizer.json ("added_tokens"): strings that bypass the model and
// are cut out of the text before normalization and pre-tokenization, leftmost match first and
// the longest one at a position (HF's LeftmostLongest Aho-Corasick). Honours lstrip / rstrip
// (the token also takes the whitespace beside it) and single_word (only between non-word
// characters).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/data/regex_splitter.h"

namespace zt::worker::data {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;  // matched on the normalized text instead of the raw text
  bool special = false;     // a control token: skipped by Decode(skip_special_tokens)
};

// A piece of text after added-token matching: either an added token or plain text.
struct AddedSplit {
  ByteSpan span;       // in the text given to Split
  int32_t token_id;    // -1 for plain text
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // InvalidArgument for empty contents or one content given two different ids.
  static absl::StatusOr<AddedVocabulary> Create(std::vector<AddedToken> tokens);

  // Which tokens Split may match.
  struct MatchPolicy {
    bool normalized_pass = false;  // false: tokens with normalized=false; true: normalized=true
    // When true, tokens with special=true match only inside `trusted` ranges (sorted, disjoint);
    // elsewhere they stay plain text and are counted in *untrusted_special_count.
    bool split_special_tokens = false;
    const std::vector<ByteSpan>* trusted = nullptr;
    int64_t* untrusted_special_count = nullptr;
  };

  // Cuts `text` into added tokens and plain-text runs (plain runs may be empty only when the
  // whole text is empty: then the result is empty).
  std::vector<AddedSplit> Split(absl::string_view text, const MatchPolicy& policy) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  // Whether any token has normalized=true (a second matching pass is needed).
  bool has_normalized_tokens() const { return has_normalized_; }
  const AddedToken* FindById(int32_t id) const;
  const AddedToken* FindByContent(absl::string_view content) const;

 private:
  struct TrieNode {
    absl::flat_hash_map<unsigned char, int32_t> children;
    int32_t token_index = -1;  // index into tokens_ of the token ending here
  };
  // Longest token of the given pass starting at `pos`; -1 when none.
  int32_t LongestAt(absl::string_view text, size_t pos, bool normalized_pass, size_t* length) const;
  bool Accepted(const AddedToken& token, absl::string_view text, ByteSpan span,
                const MatchPolicy& policy) const;

  std::vector<AddedToken> tokens_;
  bool has_normalized_ = false;
  std::vector<TrieNode> trie_{1};
  std::array<bool, 256> first_byte_{};
  absl::flat_hash_map<int32_t, size_t> by_id_;
  absl::flat_hash_map<std::string, size_t> by_content_;
};

}  // namespace zt::worker::data
