#include "worker/model/text_streamer.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/data/byte_level.h"

namespace zt::worker::model {
namespace {

bool IsContinuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// Bytes in a character led by `lead` (0: not a valid lead byte).
int SequenceLength(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Whether `second` may follow `lead` (RFC 3629: no overlongs, surrogates or > U+10FFFF).
bool ValidSecondByte(unsigned char lead, unsigned char second) {
  switch (lead) {
    case 0xE0:
      return second >= 0xA0 && second <= 0xBF;
    case 0xED:
      return second >= 0x80 && second <= 0x9F;
    case 0xF0:
      return second >= 0x90 && second <= 0xBF;
    case 0xF4:
      return second >= 0x80 && second <= 0x8F;
    default:
      return IsContinuation(second);
  }
}

}  // namespace

size_t IncompleteUtf8Suffix(absl::string_view bytes) {
  const size_t n = bytes.size();
  for (size_t have = 1; have <= 3 && have <= n; ++have) {
    const auto lead = static_cast<unsigned char>(bytes[n - have]);
    if (IsContinuation(lead)) continue;
    const int needed = SequenceLength(lead);
    if (needed == 0 || static_cast<size_t>(needed) <= have) return 0;
    if (have >= 2) {
      const auto second = static_cast<unsigned char>(bytes[n - have + 1]);
      if (!ValidSecondByte(lead, second)) return 0;
    }
    return have;  // later bytes are continuations (checked by the loop)
  }
  return 0;
}

absl::StatusOr<std::string> TokenBytes(const data::Tokenizer& tokenizer, int32_t id,
                                       bool skip_special) {
  if (const data::AddedToken* added = tokenizer.added_vocabulary().FindById(id)) {
    if (skip_special && added->special) return std::string();
    std::optional<std::string> raw = data::ByteLevelToBytes(added->content);
    return raw ? *raw : added->content;
  }
  const std::string token = tokenizer.IdToToken(id);
  std::optional<std::string> raw = data::ByteLevelToBytes(token);
  if (token.empty() || !raw) {
    return absl::InvalidArgumentError(absl::StrCat("token id ", id,
                                                   " is not in the tokenizer (vocabulary size ",
                                                   tokenizer.vocab_size(), ")"));
  }
  return *raw;
}

TextStreamer::TextStreamer(const data::Tokenizer& tokenizer,
                           std::function<void(absl::string_view)> sink)
    : tokenizer_(tokenizer), sink_(std::move(sink)) {}

void TextStreamer::Put(int32_t id) {
  absl::StatusOr<std::string> bytes = TokenBytes(tokenizer_, id);
  if (!bytes.ok()) return;  // unknown id: nothing, as HF's decode
  pending_ += *bytes;
  const size_t hold = IncompleteUtf8Suffix(pending_);
  Emit(absl::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
}

void TextStreamer::End() {
  Emit(pending_);
  pending_.clear();
}

void TextStreamer::Emit(absl::string_view bytes) {
  if (bytes.empty()) return;
  const std::string piece = data::Utf8Lossy(bytes);
  text_ += piece;
  sink_(piece);
}

}  // namespace zt::worker::model
