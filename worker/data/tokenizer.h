// A byte-level BPE tokenizer loaded from an HF tokenizer.json, encoding and decoding as HF
// tokenizers does: added tokens are cut out of the raw text first, NFC is applied to the rest
// (when the file asks for it), the Split pre-tokenizer regex cuts pieces, and each piece goes
// through the BPE model. Immutable after loading; Encode and Decode are thread-safe.
//
// Special tokens in untrusted text: with EncodeOptions::split_special_tokens, a special=true
// added token (e.g. "<|im_end|>") typed inside the text is encoded as ordinary text unless it
// lies inside one of the `trusted` ranges (the parts a chat template wrote); the number of such
// occurrences is reported, so the caller can log it. Non-special added tokens ("<think>") are
// always atomic, as in HF tokenizers with split_special_tokens=True.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "worker/data/added_vocabulary.h"
#include "worker/data/bpe.h"
#include "worker/data/regex_splitter.h"

namespace zt::worker::data {

struct EncodeOptions {
  bool add_special_tokens = false;    // the post-processor's BOS/EOS (Llama-3 BOS); off by default
  bool split_special_tokens = false;  // see the header comment
  const std::vector<ByteSpan>* trusted = nullptr;  // sorted, disjoint ranges of the text
};

struct Encoding {
  std::vector<int32_t> ids;
  // Byte range of each token in the text given to Encode. Tokens of a run that NFC changed
  // all start at the run's first byte; post-processor tokens have an empty range at 0 or the end.
  std::vector<ByteSpan> offsets;
  int64_t untrusted_special_tokens = 0;  // special tokens found outside `trusted` and split
};

class Tokenizer {
 public:
  // Loads `dir`/tokenizer.json (or `dir`/tokenizer.json.gz when only that exists).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromDirectory(const std::string& dir);
  // Loads a tokenizer.json file (plain or gzip-compressed).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(const std::string& path);
  // Parses tokenizer.json text; `source` names it in errors.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(absl::string_view json,
                                                             absl::string_view source);

  // InvalidArgument when `text` is not valid UTF-8 (naming the byte offset).
  absl::StatusOr<Encoding> Encode(absl::string_view text, const EncodeOptions& options = {}) const;
  absl::StatusOr<std::vector<int32_t>> EncodeIds(absl::string_view text,
                                                 const EncodeOptions& options = {}) const;

  // Text of `ids`; invalid UTF-8 from partial byte sequences becomes U+FFFD (Rust's
  // from_utf8_lossy, as HF's ByteLevel decoder). InvalidArgument for an id in neither the
  // vocabulary nor the added tokens.
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids,
                                     bool skip_special_tokens = false) const;

  // Id of an added token or vocabulary entry (byte-level string) named `token`, or -1.
  int32_t TokenToId(absl::string_view token) const;
  // The token string of `id` as tokenizer.json spells it ("" when unknown).
  std::string IdToToken(int32_t id) const;
  // Vocabulary plus added tokens not in it.
  size_t vocab_size() const;
  const AddedVocabulary& added_vocabulary() const { return added_; }

 private:
  Tokenizer() = default;
  // Encodes plain text (no added tokens at top level) into `out`, offsets shifted by `base`.
  absl::Status EncodePlain(absl::string_view text, size_t base, const EncodeOptions& options,
                           Encoding& out) const;
  absl::Status EncodeNormalized(absl::string_view text, std::vector<int32_t>& ids,
                                std::vector<ByteSpan>& spans) const;

  AddedVocabulary added_;
  bool nfc_ = false;
  std::vector<RegexSplitter> splits_;
  std::unique_ptr<Bpe> bpe_;
  std::vector<int32_t> prefix_ids_;
  std::vector<int32_t> suffix_ids_;
};

// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes U+FFFD.
std::string Utf8Lossy(absl::string_view bytes);

}  // namespace zt::worker::data
