#include "worker/data/tokenizer.h"

#include <zlib.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/data/byte_level.h"
#include "worker/data/nfc.h"
#include "worker/data/tokenizer_json.h"

namespace zt::worker::data {
namespace {

// The bytes of `path`, gunzipped when it is a gzip file (large fixtures are committed so).
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");  // reads plain files unchanged
  if (file == nullptr) return absl::NotFoundError(absl::StrCat("cannot open '", path, "'"));
  std::string text;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(file, buffer, sizeof(buffer))) > 0) text.append(buffer, n);
  const bool failed = n < 0;
  gzclose(file);
  if (failed) return absl::DataLossError(absl::StrCat("cannot read '", path, "' (corrupt gzip?)"));
  return text;
}

// Length of the valid UTF-8 sequence at `i`, or -(length of its maximal invalid prefix, >= 1).
int Utf8SequenceAt(absl::string_view s, size_t i) {
  const unsigned char lead = static_cast<unsigned char>(s[i]);
  if (lead < 0x80) return 1;
  int need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  for (int k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return -k;
    const unsigned char c = static_cast<unsigned char>(s[i + k]);
    if (c < lo || c > hi) return -k;
    lo = 0x80;
    hi = 0xBF;
  }
  return need + 1;
}

}  // namespace

std::string Utf8Lossy(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const int n = Utf8SequenceAt(bytes, i);
    if (n > 0) {
      out.append(bytes.data() + i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += -n;
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromDirectory(const std::string& dir) {
  const std::string path = dir + "/tokenizer.json";
  if (!std::filesystem::exists(path) && std::filesystem::exists(path + ".gz")) return FromFile(path + ".gz");
  return FromFile(path);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  ZT_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return FromJson(text, path);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(absl::string_view json,
                                                              absl::string_view source) {
  ZT_ASSIGN_OR_RETURN(TokenizerSpec spec, ParseTokenizerJson(json, source));
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer());
  auto added = AddedVocabulary::Create(std::move(spec.added_tokens));
  if (!added.ok()) return absl::InvalidArgumentError(absl::StrCat(source, ": ", added.status().message()));
  tokenizer->added_ = *std::move(added);
  tokenizer->nfc_ = spec.nfc;
  for (size_t i = 0; i < spec.splits.size(); ++i) {
    const SplitSpec& s = spec.splits[i];
    auto splitter = RegexSplitter::Create(s.pattern, s.is_regex, s.behavior, s.invert);
    if (!splitter.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": pre_tokenizer step ", i, ": ", splitter.status().message()));
    }
    tokenizer->splits_.push_back(*std::move(splitter));
  }
  auto bpe = Bpe::Create(spec.vocab, spec.merges, Bpe::Options{spec.ignore_merges});
  if (!bpe.ok()) return absl::InvalidArgumentError(absl::StrCat(source, ": ", bpe.status().message()));
  tokenizer->bpe_ = *std::move(bpe);
  for (const std::vector<int32_t>* ids : {&spec.prefix_ids, &spec.suffix_ids}) {
    for (int32_t id : *ids) {
      if (tokenizer->IdToToken(id).empty()) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": post_processor: token id ", id, " is not in the vocabulary"));
      }
    }
  }
  tokenizer->prefix_ids_ = std::move(spec.prefix_ids);
  tokenizer->suffix_ids_ = std::move(spec.suffix_ids);
  return tokenizer;
}

absl::Status Tokenizer::EncodeNormalized(absl::string_view text, std::vector<int32_t>& ids,
                                         std::vector<ByteSpan>& spans) const {
  std::vector<ByteSpan> pieces{{0, text.size()}};
  for (const RegexSplitter& splitter : splits_) {
    std::vector<ByteSpan> next;
    for (const ByteSpan& piece : pieces) {
      ZT_ASSIGN_OR_RETURN(std::vector<ByteSpan> parts,
                          splitter.Split(text.substr(piece.begin, piece.end - piece.begin)));
      for (const ByteSpan& p : parts) next.push_back({piece.begin + p.begin, piece.begin + p.end});
    }
    pieces = std::move(next);
  }
  for (const ByteSpan& piece : pieces) {
    if (piece.end == piece.begin) continue;
    const size_t first = ids.size();
    bpe_->EncodePiece(text.substr(piece.begin, piece.end - piece.begin), ids);
    size_t cursor = piece.begin;
    for (size_t k = first; k < ids.size(); ++k) {
      const size_t length = bpe_->TokenBytes(ids[k])->size();
      spans.push_back({cursor, cursor + length});
      cursor += length;
    }
  }
  return absl::OkStatus();
}

absl::Status Tokenizer::EncodePlain(absl::string_view text, size_t base,
                                    const EncodeOptions& options, Encoding& out) const {
  NormalizedText normalized;
  if (nfc_) {
    ZT_ASSIGN_OR_RETURN(normalized, NormalizeNfc(text));
  } else {
    normalized.text = std::string(text);
  }
  const std::string& norm = normalized.text;
  auto map_offset = [&](size_t i) { return base + (i >= norm.size() ? text.size() : normalized.Origin(i)); };
  std::vector<AddedSplit> splits{{{0, norm.size()}, -1}};
  std::vector<ByteSpan> trusted;  // options.trusted in normalized coordinates
  if (added_.has_normalized_tokens()) {
    // Tokens marked normalized=true are matched on the normalized text.
    if (options.trusted != nullptr) {
      for (size_t i = 0; i < norm.size(); ++i) {
        const size_t o = map_offset(i);
        bool inside = false;
        for (const ByteSpan& t : *options.trusted) inside |= t.begin <= o && o < t.end;
        if (!inside) continue;
        if (!trusted.empty() && trusted.back().end == i) {
          trusted.back().end = i + 1;
        } else {
          trusted.push_back({i, i + 1});
        }
      }
    }
    AddedVocabulary::MatchPolicy policy;
    policy.normalized_pass = true;
    policy.split_special_tokens = options.split_special_tokens;
    policy.trusted = &trusted;
    policy.untrusted_special_count = &out.untrusted_special_tokens;
    splits = added_.Split(norm, policy);
  }
  for (const AddedSplit& split : splits) {
    if (split.token_id >= 0) {
      out.ids.push_back(split.token_id);
      out.offsets.push_back({map_offset(split.span.begin), map_offset(split.span.end)});
      continue;
    }
    std::vector<int32_t> ids;
    std::vector<ByteSpan> spans;
    absl::string_view piece(norm.data() + split.span.begin, split.span.end - split.span.begin);
    ZT_RETURN_IF_ERROR(EncodeNormalized(piece, ids, spans));
    out.ids.insert(out.ids.end(), ids.begin(), ids.end());
    for (const ByteSpan& s : spans) {
      out.offsets.push_back({map_offset(split.span.begin + s.begin), map_offset(split.span.begin + s.end)});
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Encoding> Tokenizer::Encode(absl::string_view text, const EncodeOptions& options) const {
  size_t bad = 0;
  if (!IsValidUtf8(text, &bad)) {
    return absl::InvalidArgumentError(absl::StrCat("text to encode is not valid UTF-8 at byte ", bad));
  }
  Encoding out;
  if (options.add_special_tokens) {
    for (int32_t id : prefix_ids_) {
      out.ids.push_back(id);
      out.offsets.push_back({0, 0});
    }
  }
  AddedVocabulary::MatchPolicy policy;
  policy.split_special_tokens = options.split_special_tokens;
  policy.trusted = options.trusted;
  policy.untrusted_special_count = &out.untrusted_special_tokens;
  for (const AddedSplit& split : added_.Split(text, policy)) {
    if (split.token_id >= 0) {
      out.ids.push_back(split.token_id);
      out.offsets.push_back(split.span);
      continue;
    }
    ZT_RETURN_IF_ERROR(EncodePlain(text.substr(split.span.begin, split.span.end - split.span.begin),
                                   split.span.begin, options, out));
  }
  if (options.add_special_tokens) {
    for (int32_t id : suffix_ids_) {
      out.ids.push_back(id);
      out.offsets.push_back({text.size(), text.size()});
    }
  }
  return out;
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::EncodeIds(absl::string_view text,
                                                          const EncodeOptions& options) const {
  ZT_ASSIGN_OR_RETURN(Encoding encoding, Encode(text, options));
  return std::move(encoding.ids);
}

absl::StatusOr<std::string> Tokenizer::Decode(absl::Span<const int32_t> ids,
                                              bool skip_special_tokens) const {
  std::string bytes;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (const AddedToken* token = added_.FindById(ids[i])) {
      if (skip_special_tokens && token->special) continue;
      std::optional<std::string> raw = ByteLevelToBytes(token->content);
      bytes += raw ? *raw : token->content;
    } else if (const std::string* raw = bpe_->TokenBytes(ids[i])) {
      bytes += *raw;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("decode: ids[", i, "] = ", ids[i],
                                                     " is not a token id (vocabulary size ", vocab_size(), ")"));
    }
  }
  return Utf8Lossy(bytes);
}

int32_t Tokenizer::TokenToId(absl::string_view token) const {
  if (const AddedToken* added = added_.FindByContent(token)) return added->id;
  std::optional<std::string> raw = ByteLevelToBytes(token);
  return raw ? bpe_->IdOfBytes(*raw) : -1;
}

std::string Tokenizer::IdToToken(int32_t id) const {
  if (const AddedToken* added = added_.FindById(id)) return added->content;
  return bpe_->TokenString(id);
}

size_t Tokenizer::vocab_size() const {
  size_t extra = 0;
  for (const AddedToken& token : added_.tokens()) extra += bpe_->TokenBytes(token.id) == nullptr;
  return bpe_->vocab_size() + extra;
}

}  // namespace zt::worker::data
