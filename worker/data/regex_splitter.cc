#include "worker/data/regex_splitter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_cat.h"

namespace zt::worker::data {
namespace {

constexpr absl::string_view kSpaceSet = "\\t\\n\\x{0B}\\f\\r\\x{85}\\p{Z}";

std::string Pcre2Message(int code) {
  PCRE2_UCHAR buffer[256];
  int n = pcre2_get_error_message(code, buffer, sizeof(buffer));
  return n < 0 ? absl::StrCat("PCRE2 error ", code) : std::string(reinterpret_cast<char*>(buffer));
}

// Turns the match list into pieces according to `behavior` (HF's SplitDelimiterBehavior).
std::vector<ByteSpan> ApplyBehavior(size_t size, const std::vector<ByteSpan>& matches,
                                    SplitBehavior behavior, bool invert) {
  struct Part {
    ByteSpan span;
    bool is_match;
  };
  std::vector<Part> parts;
  size_t cursor = 0;
  for (const ByteSpan& m : matches) {
    if (m.begin > cursor) parts.push_back({{cursor, m.begin}, invert});
    parts.push_back({m, !invert});
    cursor = m.end;
  }
  if (cursor < size) parts.push_back({{cursor, size}, invert});

  std::vector<ByteSpan> out;
  bool previous_was_match = false;
  bool glue_next = false;
  for (const Part& part : parts) {
    switch (behavior) {
      case SplitBehavior::kRemoved:
        if (!part.is_match) out.push_back(part.span);
        break;
      case SplitBehavior::kIsolated:
        out.push_back(part.span);
        break;
      case SplitBehavior::kMergedWithPrevious:
        if (part.is_match && !previous_was_match && !out.empty()) {
          out.back().end = part.span.end;
        } else {
          out.push_back(part.span);
        }
        break;
      case SplitBehavior::kMergedWithNext:
        if (glue_next && !part.is_match) {
          out.back().end = part.span.end;
        } else {
          out.push_back(part.span);
        }
        glue_next = part.is_match;
        break;
      case SplitBehavior::kContiguous:
        if (part.is_match && previous_was_match) {
          out.back().end = part.span.end;
        } else {
          out.push_back(part.span);
        }
        break;
    }
    previous_was_match = part.is_match;
  }
  return out;
}

}  // namespace

struct RegexSplitter::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

absl::StatusOr<SplitBehavior> ParseSplitBehavior(absl::string_view name) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return absl::InvalidArgumentError(
      absl::StrCat("split behavior '", name,
                   "' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, "
                   "Contiguous"));
}

absl::StatusOr<std::string> TranslateOnigurumaPattern(absl::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 64);
  int class_depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        absl::StrAppend(&out, class_depth > 0 ? "" : "[", kSpaceSet, class_depth > 0 ? "" : "]");
      } else if (e == 'S') {
        if (class_depth > 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "regex '", pattern, "': \\S inside a character class at byte ", i - 1,
              " has no exact PCRE2 equivalent"));
        }
        absl::StrAppend(&out, "[^", kSpaceSet, "]");
      } else {
        out.push_back(c);
        out.push_back(e);
      }
      continue;
    }
    if (c == '[') {
      ++class_depth;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out.push_back(pattern[++i]);
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out.push_back(c);
  }
  return out;
}

absl::StatusOr<RegexSplitter> RegexSplitter::Create(absl::string_view pattern, bool is_regex,
                                                    SplitBehavior behavior, bool invert) {
  std::string source(pattern);
  uint32_t options = PCRE2_UTF;
  if (is_regex) {
    options |= PCRE2_UCP;
    auto translated = TranslateOnigurumaPattern(pattern);
    if (!translated.ok()) return translated.status();
    source = *std::move(translated);
  } else {
    if (pattern.empty()) return absl::InvalidArgumentError("split pattern string is empty");
    options |= PCRE2_LITERAL;
  }
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                   options, &error, &error_offset, nullptr);
  if (code == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("split regex '", pattern, "' does not compile at byte ",
                                                   error_offset, ": ", Pcre2Message(error)));
  }
  auto owned = std::make_shared<Code>();
  owned->code = code;
  // JIT is an optimisation only: when unavailable, pcre2_match interprets.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return RegexSplitter(std::move(owned), behavior, invert);
}

absl::Status RegexSplitter::FindMatches(absl::string_view text,
                                        std::vector<ByteSpan>& matches) const {
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_->code, nullptr);
  if (data == nullptr) return absl::ResourceExhaustedError("split regex: no memory for match data");
  pcre2_jit_stack* stack = nullptr;
  pcre2_match_context* context = nullptr;
  absl::Status status;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset < text.size()) {
    int rc = pcre2_match(code_->code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, data, context);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && context == nullptr) {
      // Long runs of one class can outgrow the 32 KiB default JIT stack; retry with a big one.
      stack = pcre2_jit_stack_create(256 * 1024, 64 * 1024 * 1024, nullptr);
      context = pcre2_match_context_create(nullptr);
      pcre2_jit_stack_assign(context, nullptr, stack);
      continue;
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      status = absl::InternalError(absl::StrCat("split regex failed at byte ", offset, ": ",
                                                Pcre2Message(rc)));
      break;
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    size_t begin = ovector[0], end = ovector[1];
    if (end > begin) {
      matches.push_back({begin, end});
      offset = end;
    } else {  // an empty match: step over one UTF-8 character
      offset = begin + 1;
      while (offset < text.size() && (static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80) ++offset;
    }
  }
  pcre2_match_context_free(context);
  if (stack != nullptr) pcre2_jit_stack_free(stack);
  pcre2_match_data_free(data);
  return status;
}

absl::StatusOr<std::vector<ByteSpan>> RegexSplitter::Split(absl::string_view text) const {
  std::vector<ByteSpan> matches;
  absl::Status status = FindMatches(text, matches);
  if (!status.ok()) return status;
  return ApplyBehavior(text.size(), matches, behavior_, invert_);
}

}  // namespace zt::worker::data
