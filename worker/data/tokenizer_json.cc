#include "worker/data/tokenizer_json.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace zt::worker::data {

const char kGpt2Pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

namespace {

using Json = nlohmann::json;

// Error helper: "<source>: <path>: <what>".
class Context {
 public:
  explicit Context(absl::string_view source) : source_(source) {}
  absl::Status Error(absl::string_view path, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", path, ": ", what));
  }
  std::string Shown(const Json& value) const {
    std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
    return text.size() > 80 ? text.substr(0, 77) + "..." : text;
  }

  absl::StatusOr<bool> Bool(const Json& obj, const char* key, absl::string_view path, bool fallback) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) return Error(absl::StrCat(path, ".", key), absl::StrCat("expected true or false, got ", Shown(*it)));
    return it->get<bool>();
  }
  absl::StatusOr<std::string> String(const Json& obj, const char* key, absl::string_view path) const {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_string()) {
      return Error(absl::StrCat(path, ".", key), absl::StrCat("expected a string, got ",
                                                               it == obj.end() ? "nothing" : Shown(*it)));
    }
    return it->get<std::string>();
  }
  absl::StatusOr<int32_t> Id(const Json& value, absl::string_view path) const {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > INT32_MAX) {
      return Error(path, absl::StrCat("expected a token id (integer 0..2^31-1), got ", Shown(value)));
    }
    return static_cast<int32_t>(value.get<int64_t>());
  }

 private:
  std::string source_;
};

absl::StatusOr<std::vector<AddedToken>> ParseAddedTokens(const Json& root, const Context& ctx) {
  std::vector<AddedToken> tokens;
  auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return tokens;
  if (!it->is_array()) return ctx.Error("added_tokens", absl::StrCat("expected an array, got ", ctx.Shown(*it)));
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& entry = (*it)[i];
    const std::string path = absl::StrCat("added_tokens[", i, "]");
    if (!entry.is_object()) return ctx.Error(path, absl::StrCat("expected an object, got ", ctx.Shown(entry)));
    AddedToken token;
    if (!entry.contains("id")) return ctx.Error(path + ".id", "missing");
    ZT_ASSIGN_OR_RETURN(token.id, ctx.Id(entry["id"], path + ".id"));
    ZT_ASSIGN_OR_RETURN(token.content, ctx.String(entry, "content", path));
    ZT_ASSIGN_OR_RETURN(token.single_word, ctx.Bool(entry, "single_word", path, false));
    ZT_ASSIGN_OR_RETURN(token.lstrip, ctx.Bool(entry, "lstrip", path, false));
    ZT_ASSIGN_OR_RETURN(token.rstrip, ctx.Bool(entry, "rstrip", path, false));
    ZT_ASSIGN_OR_RETURN(token.normalized, ctx.Bool(entry, "normalized", path, true));
    ZT_ASSIGN_OR_RETURN(token.special, ctx.Bool(entry, "special", path, false));
    tokens.push_back(std::move(token));
  }
  return tokens;
}

absl::Status ParseNormalizer(const Json& node, const std::string& path, const Context& ctx, TokenizerSpec& spec) {
  if (node.is_null()) return absl::OkStatus();
  if (!node.is_object()) return ctx.Error(path, absl::StrCat("expected an object or null, got ", ctx.Shown(node)));
  ZT_ASSIGN_OR_RETURN(std::string type, ctx.String(node, "type", path));
  if (type == "NFC") {
    spec.nfc = true;
    return absl::OkStatus();
  }
  if (type == "Sequence" && node.contains("normalizers") && node["normalizers"].is_array()) {
    const Json& list = node["normalizers"];
    for (size_t i = 0; i < list.size(); ++i) {
      ZT_RETURN_IF_ERROR(ParseNormalizer(list[i], absl::StrCat(path, ".normalizers[", i, "]"), ctx, spec));
    }
    return absl::OkStatus();
  }
  return ctx.Error(path + ".type", absl::StrCat("normalizer '", type, "' is not supported (supported: NFC, a Sequence of NFC, null)"));
}

absl::Status ParsePreTokenizer(const Json& node, const std::string& path, const Context& ctx, TokenizerSpec& spec) {
  if (node.is_null()) return absl::OkStatus();
  if (!node.is_object()) return ctx.Error(path, absl::StrCat("expected an object or null, got ", ctx.Shown(node)));
  ZT_ASSIGN_OR_RETURN(std::string type, ctx.String(node, "type", path));
  if (type == "Sequence" && node.contains("pretokenizers") && node["pretokenizers"].is_array()) {
    const Json& list = node["pretokenizers"];
    for (size_t i = 0; i < list.size(); ++i) {
      ZT_RETURN_IF_ERROR(ParsePreTokenizer(list[i], absl::StrCat(path, ".pretokenizers[", i, "]"), ctx, spec));
    }
    return absl::OkStatus();
  }
  if (type == "ByteLevel") {
    ZT_ASSIGN_OR_RETURN(bool prefix_space, ctx.Bool(node, "add_prefix_space", path, false));
    if (prefix_space) return ctx.Error(path + ".add_prefix_space", "true is not supported (expected false)");
    ZT_ASSIGN_OR_RETURN(bool use_regex, ctx.Bool(node, "use_regex", path, true));
    if (use_regex) spec.splits.push_back({kGpt2Pattern, true, SplitBehavior::kIsolated, false});
    spec.byte_level = true;
    return absl::OkStatus();
  }
  if (type == "Split") {
    SplitSpec split;
    auto pattern = node.find("pattern");
    if (pattern == node.end() || !pattern->is_object()) {
      return ctx.Error(path + ".pattern", "expected {\"Regex\": ...} or {\"String\": ...}");
    }
    if (pattern->contains("Regex")) {
      ZT_ASSIGN_OR_RETURN(split.pattern, ctx.String(*pattern, "Regex", path + ".pattern"));
    } else {
      ZT_ASSIGN_OR_RETURN(split.pattern, ctx.String(*pattern, "String", path + ".pattern"));
      split.is_regex = false;
    }
    ZT_ASSIGN_OR_RETURN(std::string behavior, ctx.String(node, "behavior", path));
    auto parsed = ParseSplitBehavior(behavior);
    if (!parsed.ok()) return ctx.Error(path + ".behavior", parsed.status().message());
    split.behavior = *parsed;
    ZT_ASSIGN_OR_RETURN(split.invert, ctx.Bool(node, "invert", path, false));
    spec.splits.push_back(std::move(split));
    return absl::OkStatus();
  }
  return ctx.Error(path + ".type", absl::StrCat("pre-tokenizer '", type,
                                                "' is not supported (supported: Split, ByteLevel, Sequence)"));
}

absl::Status ParseMerges(const Json& merges, const Context& ctx, TokenizerSpec& spec) {
  if (!merges.is_array()) return ctx.Error("model.merges", absl::StrCat("expected an array, got ", ctx.Shown(merges)));
  spec.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const Json& m = merges[i];
    if (m.is_string()) {  // legacy "a b" form
      const std::string& text = m.get_ref<const std::string&>();
      const size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
        return ctx.Error(absl::StrCat("model.merges[", i, "]"),
                         absl::StrCat("expected \"left right\" with exactly one space, got ", ctx.Shown(m)));
      }
      spec.merges.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return ctx.Error(absl::StrCat("model.merges[", i, "]"),
                       absl::StrCat("expected \"left right\" or [\"left\", \"right\"], got ", ctx.Shown(m)));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseModel(const Json& model, const Context& ctx, TokenizerSpec& spec) {
  if (!model.is_object()) return ctx.Error("model", "expected an object");
  if (model.contains("type")) {
    ZT_ASSIGN_OR_RETURN(std::string type, ctx.String(model, "type", "model"));
    if (type != "BPE") return ctx.Error("model.type", absl::StrCat("'", type, "' is not supported (expected BPE)"));
  }
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0)) {
    return ctx.Error("model.dropout", absl::StrCat("BPE dropout ", ctx.Shown(model["dropout"]), " is not supported (expected null)"));
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model[key].is_null() && model[key] != "") {
      return ctx.Error(absl::StrCat("model.", key), absl::StrCat(ctx.Shown(model[key]), " is not supported (expected \"\" or null)"));
    }
  }
  ZT_ASSIGN_OR_RETURN(bool byte_fallback, ctx.Bool(model, "byte_fallback", "model", false));
  if (byte_fallback) return ctx.Error("model.byte_fallback", "true is not supported (expected false)");
  ZT_ASSIGN_OR_RETURN(spec.ignore_merges, ctx.Bool(model, "ignore_merges", "model", false));
  auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_object()) return ctx.Error("model.vocab", "expected an object {token: id}");
  spec.vocab.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    ZT_ASSIGN_OR_RETURN(int32_t id, ctx.Id(it.value(), absl::StrCat("model.vocab['", it.key(), "']")));
    spec.vocab.emplace_back(it.key(), id);
  }
  auto merges = model.find("merges");
  if (merges == model.end()) return ctx.Error("model.merges", "missing");
  return ParseMerges(*merges, ctx, spec);
}

// TemplateProcessing "single": [{"SpecialToken": {"id": "<bos>"}}, {"Sequence": {"id": "A"}}, ...].
absl::Status ParsePostProcessor(const Json& node, const Context& ctx, TokenizerSpec& spec) {
  if (node.is_null()) return absl::OkStatus();
  if (!node.is_object()) return ctx.Error("post_processor", "expected an object or null");
  ZT_ASSIGN_OR_RETURN(std::string type, ctx.String(node, "type", "post_processor"));
  if (type == "Sequence" && node.contains("processors") && node["processors"].is_array()) {
    for (const Json& p : node["processors"]) ZT_RETURN_IF_ERROR(ParsePostProcessor(p, ctx, spec));
    return absl::OkStatus();
  }
  if (type == "ByteLevel") return absl::OkStatus();  // offsets only
  if (type != "TemplateProcessing") {
    return ctx.Error("post_processor.type", absl::StrCat("'", type, "' is not supported (supported: ByteLevel, TemplateProcessing, Sequence, null)"));
  }
  auto single = node.find("single");
  auto specials = node.find("special_tokens");
  if (single == node.end() || !single->is_array()) return ctx.Error("post_processor.single", "expected an array");
  bool after_sequence = false;
  for (size_t i = 0; i < single->size(); ++i) {
    const Json& piece = (*single)[i];
    const std::string path = absl::StrCat("post_processor.single[", i, "]");
    if (piece.contains("Sequence")) {
      after_sequence = true;
      continue;
    }
    if (!piece.contains("SpecialToken") || !piece["SpecialToken"].is_object()) {
      return ctx.Error(path, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
    ZT_ASSIGN_OR_RETURN(std::string name, ctx.String(piece["SpecialToken"], "id", path + ".SpecialToken"));
    if (specials == node.end() || !specials->contains(name) || !(*specials)[name].contains("ids") ||
        !(*specials)[name]["ids"].is_array()) {
      return ctx.Error(path, absl::StrCat("special token '", name, "' has no ids in post_processor.special_tokens"));
    }
    for (const Json& id_value : (*specials)[name]["ids"]) {
      ZT_ASSIGN_OR_RETURN(int32_t id, ctx.Id(id_value, absl::StrCat("post_processor.special_tokens.", name)));
      (after_sequence ? spec.suffix_ids : spec.prefix_ids).push_back(id);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenizerSpec> ParseTokenizerJson(absl::string_view json_text, absl::string_view source) {
  Context ctx(source);
  Json root = Json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return ctx.Error("(document)", "not valid JSON");
  if (!root.is_object()) return ctx.Error("(document)", "expected a JSON object");
  TokenizerSpec spec;
  ZT_ASSIGN_OR_RETURN(spec.added_tokens, ParseAddedTokens(root, ctx));
  if (root.contains("normalizer")) ZT_RETURN_IF_ERROR(ParseNormalizer(root["normalizer"], "normalizer", ctx, spec));
  if (root.contains("pre_tokenizer")) ZT_RETURN_IF_ERROR(ParsePreTokenizer(root["pre_tokenizer"], "pre_tokenizer", ctx, spec));
  if (!spec.byte_level) return ctx.Error("pre_tokenizer", "no ByteLevel step: only byte-level BPE tokenizers are supported");
  if (!root.contains("model")) return ctx.Error("model", "missing");
  ZT_RETURN_IF_ERROR(ParseModel(root["model"], ctx, spec));
  if (root.contains("post_processor")) ZT_RETURN_IF_ERROR(ParsePostProcessor(root["post_processor"], ctx, spec));
  if (root.contains("decoder") && !root["decoder"].is_null()) {
    const Json& decoder = root["decoder"];
    if (!decoder.is_object() || decoder.value("type", "") != "ByteLevel") {
      return ctx.Error("decoder", absl::StrCat("expected a ByteLevel decoder, got ", ctx.Shown(decoder)));
    }
  }
  return spec;
}

}  // namespace zt::worker::data
