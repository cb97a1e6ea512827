#include "worker/data/bpe.h"

#include <queue>

#include "absl/strings/str_cat.h"
#include "worker/data/byte_level.h"

namespace zt::worker::data {
namespace {

// A symbol of the piece being merged: a doubly linked list over a vector.
struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  bool alive;
};

// A candidate merge of the symbol at `pos` with its right neighbour.
struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t id;
  bool operator>(const Candidate& o) const {
    return rank != o.rank ? rank > o.rank : pos > o.pos;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Bpe>> Bpe::Create(
    const std::vector<std::pair<std::string, int32_t>>& vocab,
    const std::vector<std::pair<std::string, std::string>>& merges, Options options) {
  std::unique_ptr<Bpe> bpe(new Bpe());
  bpe->options_ = options;
  absl::flat_hash_map<std::string, int32_t> by_string;
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab) {
    if (id < 0) return absl::InvalidArgumentError(absl::StrCat("model.vocab['", token, "']: negative id ", id));
    by_string.emplace(token, id);
    max_id = std::max(max_id, id);
  }
  bpe->vocab_size_ = vocab.size();
  bpe->id_bytes_.resize(max_id + 1);
  bpe->id_known_.assign(max_id + 1, false);
  for (const auto& [token, id] : vocab) {
    if (bpe->id_known_[id]) {
      return absl::InvalidArgumentError(absl::StrCat("model.vocab['", token, "']: id ", id,
                                                     " is already used by another entry"));
    }
    bpe->id_known_[id] = true;
    // Entries outside the byte-level alphabet cannot come out of the model; keep their text.
    std::optional<std::string> bytes = ByteLevelToBytes(token);
    bpe->id_bytes_[id] = bytes ? *std::move(bytes) : token;
    bpe->bytes_to_id_.emplace(bpe->id_bytes_[id], id);
  }
  for (int b = 0; b < 256; ++b) {
    auto it = bpe->bytes_to_id_.find(std::string(1, static_cast<char>(b)));
    if (it == bpe->bytes_to_id_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model.vocab: no entry for byte 0x", absl::Hex(b, absl::kZeroPad2), " ('",
          BytesToByteLevel(std::string(1, static_cast<char>(b))), "'); a byte-level BPE needs all 256"));
    }
    bpe->byte_ids_[b] = it->second;
  }
  bpe->merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    auto a = by_string.find(left);
    auto b = by_string.find(right);
    auto merged = by_string.find(left + right);
    if (a == by_string.end() || b == by_string.end() || merged == by_string.end()) {
      const std::string& missing = a == by_string.end() ? left : b == by_string.end() ? right : left + right;
      return absl::InvalidArgumentError(absl::StrCat("model.merges[", rank, "] ('", left, "', '", right,
                                                     "'): token '", missing, "' is not in model.vocab"));
    }
    // The first rank of a repeated pair wins, as in HF tokenizers.
    bpe->merges_.emplace(PairKey(a->second, b->second),
                         Merge{static_cast<int32_t>(rank), merged->second});
  }
  return bpe;
}

const std::string* Bpe::TokenBytes(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_known_.size() || !id_known_[id]) return nullptr;
  return &id_bytes_[id];
}

std::string Bpe::TokenString(int32_t id) const {
  const std::string* bytes = TokenBytes(id);
  return bytes == nullptr ? "" : BytesToByteLevel(*bytes);
}

int32_t Bpe::IdOfBytes(absl::string_view bytes) const {
  auto it = bytes_to_id_.find(bytes);
  return it == bytes_to_id_.end() ? -1 : it->second;
}

void Bpe::MergeSymbols(absl::string_view piece, std::vector<int32_t>& out) const {
  const int32_t n = static_cast<int32_t>(piece.size());
  std::vector<Symbol> symbols(n);
  for (int32_t i = 0; i < n; ++i) {
    symbols[i] = {byte_ids_[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1, true};
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_pair = [&](int32_t pos) {
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    auto it = merges_.find(PairKey(symbols[pos].id, symbols[next].id));
    if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    auto it = merges_.find(PairKey(left.id, symbols[left.next].id));
    if (it == merges_.end() || it->second.rank != top.rank) continue;  // stale candidate
    Symbol& right = symbols[left.next];
    right.alive = false;
    left.id = top.id;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }
  for (int32_t i = 0; i >= 0 && i < n; i = symbols[i].next) out.push_back(symbols[i].id);
}

void Bpe::EncodePiece(absl::string_view piece, std::vector<int32_t>& ids) const {
  if (piece.size() == 1) {
    ids.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  if (options_.ignore_merges) {
    auto it = bytes_to_id_.find(piece);
    if (it != bytes_to_id_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  if (options_.cache_capacity > 0) {
    absl::MutexLock lock(&cache_mutex_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids.size();
  MergeSymbols(piece, ids);
  if (options_.cache_capacity > 0) {
    absl::MutexLock lock(&cache_mutex_);
    if (cache_.size() < options_.cache_capacity) {
      cache_.emplace(std::string(piece), std::vector<int32_t>(ids.begin() + first, ids.end()));
    }
  }
}

}  // namespace zt::worker::data
