// The Split pre-tokenizer of HF tokenizers: a Unicode regex whose matches (and the text between
// them) become pieces. Patterns are written for Oniguruma (the engine HF tokenizers uses) and run
// on PCRE2 with UTF and UCP; TranslateOnigurumaPattern rewrites the constructs whose meaning
// differs between the two engines, so that both split identically.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zt::worker::data {

// A half-open byte range [begin, end) of some text.
struct ByteSpan {
  size_t begin = 0;
  size_t end = 0;
  friend bool operator==(const ByteSpan& a, const ByteSpan& b) {
    return a.begin == b.begin && a.end == b.end;
  }
};

// What happens to a match, as HF's SplitDelimiterBehavior.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Parses "Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous".
absl::StatusOr<SplitBehavior> ParseSplitBehavior(absl::string_view name);

// Rewrites `\s` and `\S` to Oniguruma's Unicode White_Space set ([\t-\r\x{85}\p{Z}]): PCRE2's
// UCP `\s` also holds U+180E, which Oniguruma (and Unicode since 6.3) does not count as space.
// InvalidArgument for `\S` inside a character class (no exact rewrite).
absl::StatusOr<std::string> TranslateOnigurumaPattern(absl::string_view pattern);

// One compiled split rule. Immutable after Create; Split is thread-safe.
class RegexSplitter {
 public:
  // `pattern` is a regex (Oniguruma syntax) when `is_regex`, else a literal string.
  static absl::StatusOr<RegexSplitter> Create(absl::string_view pattern, bool is_regex,
                                              SplitBehavior behavior, bool invert);

  // Splits `text` (valid UTF-8) into pieces, as byte ranges of `text` in order. Pieces are never
  // empty. The only error is PCRE2 failing (resource limits), as Internal.
  absl::StatusOr<std::vector<ByteSpan>> Split(absl::string_view text) const;

 private:
  struct Code;
  RegexSplitter(std::shared_ptr<const Code> code, SplitBehavior behavior, bool invert)
      : code_(std::move(code)), behavior_(behavior), invert_(invert) {}

  // Appends [begin, end) of every match to `matches`.
  absl::Status FindMatches(absl::string_view text, std::vector<ByteSpan>& matches) const;

  std::shared_ptr<const Code> code_;
  SplitBehavior behavior_;
  bool invert_;
};

}  // namespace zt::worker::data
