// Byte-level BPE model (HF tokenizers' models::bpe with a ByteLevel alphabet): vocabulary
// entries are byte-level strings (byte_level.h); a piece of raw bytes starts as one symbol per
// byte and the adjacent pair with the lowest merge rank is merged (leftmost first among equal
// ranks) until no pair has a merge. With ignore_merges (Llama-3), a piece that is itself a
// vocabulary entry is emitted whole.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace zt::worker::data {

class Bpe {
 public:
  struct Options {
    bool ignore_merges = false;
    size_t cache_capacity = 10000;  // pieces whose ids are remembered (0: no cache)
  };

  // `vocab`: (byte-level string, id) pairs; `merges`: pairs of byte-level strings in rank order.
  // InvalidArgument, naming the entry, for duplicate ids, a merge whose parts or result are
  // not in the vocabulary, or a byte with no single-byte entry.
  static absl::StatusOr<std::unique_ptr<Bpe>> Create(
      const std::vector<std::pair<std::string, int32_t>>& vocab,
      const std::vector<std::pair<std::string, std::string>>& merges, Options options);

  // Appends the ids of `piece` (raw bytes, non-empty) to `ids`. Thread-safe.
  void EncodePiece(absl::string_view piece, std::vector<int32_t>& ids) const;

  // Raw bytes of token `id`, or nullptr when `id` is not in the vocabulary.
  const std::string* TokenBytes(int32_t id) const;
  // The byte-level string of token `id` as in tokenizer.json ("" when unknown).
  std::string TokenString(int32_t id) const;
  // Id of the vocabulary entry whose raw bytes are `bytes`, or -1.
  int32_t IdOfBytes(absl::string_view bytes) const;
  size_t vocab_size() const { return vocab_size_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  Bpe() = default;
  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void MergeSymbols(absl::string_view piece, std::vector<int32_t>& out) const;

  Options options_;
  size_t vocab_size_ = 0;
  int32_t byte_ids_[256] = {};
  std::vector<std::string> id_bytes_;
  std::vector<bool> id_known_;
  absl::flat_hash_map<std::string, int32_t> bytes_to_id_;
  absl::flat_hash_map<uint64_t, Merge> merges_;

  mutable absl::Mutex cache_mutex_;
  mutable absl::flat_hash_map<std::string, std::vector<int32_t>> cache_ ABSL_GUARDED_BY(cache_mutex_);
};

}  // namespace zt::worker::data
