#include "worker/data/added_vocabulary.h"

#include <utf8proc.h>

#include "absl/strings/str_cat.h"

namespace zt::worker::data {
namespace {

// Decodes the code point that starts at `i` (text is valid UTF-8); sets *length.
utf8proc_int32_t CodePointAt(absl::string_view text, size_t i, size_t* length) {
  utf8proc_int32_t cp = -1;
  utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + i),
                                        static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
  *length = n > 0 ? static_cast<size_t>(n) : 1;
  return cp;
}

// The code point that ends just before `end`; sets *length.
utf8proc_int32_t CodePointBefore(absl::string_view text, size_t end, size_t* length) {
  size_t begin = end - 1;
  while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
  size_t n;
  utf8proc_int32_t cp = CodePointAt(text, begin, &n);
  *length = end - begin;
  return cp;
}

// Unicode White_Space, as Rust's char::is_whitespace.
bool IsWhiteSpace(utf8proc_int32_t cp) {
  if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85) return true;
  if (cp < 0xA0) return false;
  utf8proc_category_t c = utf8proc_category(cp);
  return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

bool IsWordCharacter(utf8proc_int32_t cp) {
  if (cp == '_') return true;
  utf8proc_category_t c = utf8proc_category(cp);
  return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
         (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

bool InsideTrusted(const std::vector<ByteSpan>* trusted, ByteSpan span) {
  if (trusted == nullptr) return false;
  for (const ByteSpan& t : *trusted) {
    if (t.begin <= span.begin && span.end <= t.end) return true;
    if (t.begin >= span.end) break;
  }
  return false;
}

}  // namespace

absl::StatusOr<AddedVocabulary> AddedVocabulary::Create(std::vector<AddedToken> tokens) {
  AddedVocabulary vocab;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const AddedToken& token = tokens[i];
    if (token.content.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("added_tokens[", i, "] (id ", token.id,
                                                     "): content is empty"));
    }
    auto [it, inserted] = vocab.by_content_.emplace(token.content, vocab.tokens_.size());
    if (!inserted) {
      if (vocab.tokens_[it->second].id == token.id) continue;  // a harmless duplicate
      return absl::InvalidArgumentError(absl::StrCat(
          "added_tokens[", i, "]: content '", token.content, "' has id ", token.id,
          " but an earlier entry gave it id ", vocab.tokens_[it->second].id));
    }
    vocab.by_id_[token.id] = vocab.tokens_.size();
    int32_t node = 0;
    for (unsigned char c : token.content) {
      auto child = vocab.trie_[node].children.find(c);
      if (child == vocab.trie_[node].children.end()) {
        vocab.trie_.emplace_back();
        child = vocab.trie_[node].children.emplace(c, static_cast<int32_t>(vocab.trie_.size() - 1)).first;
      }
      node = child->second;
    }
    vocab.trie_[node].token_index = static_cast<int32_t>(vocab.tokens_.size());
    vocab.first_byte_[static_cast<unsigned char>(token.content[0])] = true;
    vocab.has_normalized_ |= token.normalized;
    vocab.tokens_.push_back(token);
  }
  return vocab;
}

const AddedToken* AddedVocabulary::FindById(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::FindByContent(absl::string_view content) const {
  auto it = by_content_.find(content);
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

int32_t AddedVocabulary::LongestAt(absl::string_view text, size_t pos, bool normalized_pass,
                                   size_t* length) const {
  int32_t best = -1;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto child = trie_[node].children.find(static_cast<unsigned char>(text[i]));
    if (child == trie_[node].children.end()) break;
    node = child->second;
    const int32_t index = trie_[node].token_index;
    if (index >= 0 && tokens_[index].normalized == normalized_pass) {
      best = index;
      *length = i + 1 - pos;
    }
  }
  return best;
}

bool AddedVocabulary::Accepted(const AddedToken& token, absl::string_view text, ByteSpan span,
                               const MatchPolicy& policy) const {
  if (token.single_word) {
    size_t n;
    if (span.begin > 0 && IsWordCharacter(CodePointBefore(text, span.begin, &n))) return false;
    if (span.end < text.size() && IsWordCharacter(CodePointAt(text, span.end, &n))) return false;
  }
  if (token.special && policy.split_special_tokens && !InsideTrusted(policy.trusted, span)) {
    if (policy.untrusted_special_count != nullptr) ++*policy.untrusted_special_count;
    return false;
  }
  return true;
}

std::vector<AddedSplit> AddedVocabulary::Split(absl::string_view text,
                                               const MatchPolicy& policy) const {
  std::vector<AddedSplit> out;
  size_t plain_begin = 0;  // start of the pending plain-text run
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    size_t length = 0;
    const int32_t index = LongestAt(text, pos, policy.normalized_pass, &length);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[index];
    ByteSpan span{pos, pos + length};
    if (!Accepted(token, text, span, policy)) {
      pos = span.end;  // matches do not overlap: the rejected one stays text
      continue;
    }
    size_t n;
    if (token.lstrip) {
      while (span.begin > plain_begin && IsWhiteSpace(CodePointBefore(text, span.begin, &n))) span.begin -= n;
    }
    if (token.rstrip) {
      while (span.end < text.size() && IsWhiteSpace(CodePointAt(text, span.end, &n))) span.end += n;
    }
    if (span.begin > plain_begin) out.push_back({{plain_begin, span.begin}, -1});
    out.push_back({span, token.id});
    plain_begin = pos = span.end;
  }
  if (plain_begin < text.size()) out.push_back({{plain_begin, text.size()}, -1});
  return out;
}

}  // namespace zt::worker::data
