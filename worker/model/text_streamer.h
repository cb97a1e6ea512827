// Incremental detokenisation for streaming generated text. Byte-level BPE tokens are byte
// strings, and one character's UTF-8 bytes can be split across tokens (a Chinese character or
// an emoji often is), so the streamer collects each token's bytes and hands on only complete
// characters: a trailing sequence that is a valid but unfinished UTF-8 prefix is held back until
// the next token completes it or End() flushes it. Bytes that cannot become valid UTF-8 are
// emitted as U+FFFD exactly as the tokenizer's Decode does (Rust's from_utf8_lossy), so the
// concatenation of every emitted piece equals Decode(all ids, skip_special_tokens) of the same
// ids. Special added tokens (<|im_end|>, <|endoftext|>) are skipped; non-special added tokens
// (<think>) are text. Ids the tokenizer does not know (the padding rows of a model's rounded-up
// vocabulary) add nothing, as HF tokenizers' decode skips them. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/data/tokenizer.h"

namespace zt::worker::model {

class TextStreamer {
 public:
  // `sink` receives each non-empty piece of valid UTF-8 as soon as it is complete.
  // `tokenizer` must outlive the streamer.
  TextStreamer(const data::Tokenizer& tokenizer, std::function<void(absl::string_view)> sink);

  // Adds one token's bytes and emits what became complete.
  void Put(int32_t id);
  // Emits the held-back bytes (as U+FFFD: they never completed). Call once, after the last Put.
  void End();

  // Everything emitted so far.
  const std::string& text() const { return text_; }

 private:
  void Emit(absl::string_view bytes);

  const data::Tokenizer& tokenizer_;
  std::function<void(absl::string_view)> sink_;
  std::string pending_;  // at most 3 bytes: an unfinished UTF-8 sequence
  std::string text_;
};

// Length of the longest suffix of `bytes` that is a proper prefix of a valid UTF-8 encoded
// character (0..3): the part a streamer must hold back.
size_t IncompleteUtf8Suffix(absl::string_view bytes);

// The raw bytes token `id` stands for ("" for a special added token when `skip_special`), or
// InvalidArgument naming the id.
absl::StatusOr<std::string> TokenBytes(const data::Tokenizer& tokenizer, int32_t id,
                                       bool skip_special = true);

}  // namespace zt::worker::model
