#include "worker/data/chat_template.h"

#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/data/alpaca_prompt.h"
#include "worker/data/chat_builder.h"
#include "worker/data/chat_template_renderers.h"

namespace zt::worker::data {
namespace {

struct Shipped {
  ChatTemplateKind kind;
  const char* name;
  const char* sha256;  // of the model's template text; "" for templates with no model file
};

// The template texts and where they come from are in tests/data/chat_templates/SOURCE.md.
constexpr Shipped kShipped[] = {
    {ChatTemplateKind::kQwen2, "qwen2", "f0206845c9ebc3abb4735d44f286eb81ce99238ad2accc710c6fc60e6cb8ccc8"},
    {ChatTemplateKind::kQwen25, "qwen2.5", "cd8e9439f0570856fd70470bf8889ebd8b5d1107207f67a5efb46e342330527f"},
    {ChatTemplateKind::kQwen3, "qwen3", "87a2728cb8dc9fe424d624542f6060ec05a1d285ebbec578bb078900e33396b5"},
    {ChatTemplateKind::kLlama3, "llama3", "4f46ecd43418f216df8c26936c60e5d04bcc81db47db5d86fbe889f64212dd4c"},
    {ChatTemplateKind::kAlpaca, "alpaca", ""},
};

std::string ShippedNames() {
  std::vector<std::string> names;
  for (const Shipped& s : kShipped) names.push_back(s.name);
  return absl::StrJoin(names, ", ");
}

// Python's str.isspace() characters (what Jinja's trim filter strips).
size_t PythonSpaceLength(absl::string_view s, size_t i) {
  const unsigned char c = s[i];
  if ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20)) return 1;
  static constexpr const char* kMultiByte[] = {"\xC2\x85", "\xC2\xA0", "\xE1\x9A\x80", "\xE2\x80\xA8",
                                               "\xE2\x80\xA9", "\xE2\x80\xAF", "\xE2\x81\x9F", "\xE3\x80\x80"};
  for (const char* m : kMultiByte) {
    if (s.substr(i).rfind(m, 0) == 0) return std::char_traits<char>::length(m);
  }
  if (s.substr(i).rfind("\xE2\x80", 0) == 0 && i + 2 < s.size()) {
    const unsigned char third = s[i + 2];
    if (third >= 0x80 && third <= 0x8A) return 3;  // U+2000..U+200A
  }
  return 0;
}

std::string PythonStrip(absl::string_view s) {
  size_t begin = 0;
  while (begin < s.size()) {
    const size_t n = PythonSpaceLength(s, begin);
    if (n == 0) break;
    begin += n;
  }
  size_t end = s.size();
  while (end > begin) {
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    if (PythonSpaceLength(s, start) != end - start) break;
    end = start;
  }
  return std::string(s.substr(begin, end - begin));
}

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open '", path, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

RenderedChat RenderLlama3(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options) {
  ChatBuilder b;
  for (int i = 0; i < static_cast<int>(messages.size()); ++i) {
    const ChatMessage& m = messages[i];
    if (i == 0) b.Add(options.bos_token, -1, "", TurnPart::kPrelude);
    b.Add("<|start_header_id|>", i, m.role, TurnPart::kStart);
    b.Add(m.role + "<|end_header_id|>\n\n", i, m.role, TurnPart::kRoleName);
    b.Add(PythonStrip(m.content), i, m.role, TurnPart::kContent);
    b.Add("<|eot_id|>", i, m.role, TurnPart::kEnd);
  }
  if (options.add_generation_prompt) {
    b.Add("<|start_header_id|>assistant<|end_header_id|>\n\n", -1, "", TurnPart::kGenerationPrompt);
  }
  return b.Take();
}

RenderedChat RenderAlpaca(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options) {
  const ChatMessage* user = nullptr;
  const ChatMessage* assistant = nullptr;
  for (const ChatMessage& m : messages) {
    if (m.role == "user") user = &m;
    if (m.role == "assistant") assistant = &m;
  }
  return RenderAlpacaRecord(user != nullptr ? user->content : "", "",
                            assistant != nullptr ? std::optional<std::string>(assistant->content) : std::nullopt,
                            options.eos_token);
}

std::vector<ByteSpan> RenderedChat::TrustedRanges() const {
  std::vector<ByteSpan> out;
  for (const RenderedSpan& s : spans) {
    if (s.part == TurnPart::kContent) continue;
    if (!out.empty() && out.back().end == s.span.begin) {
      out.back().end = s.span.end;
    } else {
      out.push_back(s.span);
    }
  }
  return out;
}

absl::string_view ChatTemplateName(ChatTemplateKind kind) {
  for (const Shipped& s : kShipped) {
    if (s.kind == kind) return s.name;
  }
  return "?";
}

absl::StatusOr<ChatTemplateKind> ParseChatTemplateName(absl::string_view name) {
  for (const Shipped& s : kShipped) {
    if (name == s.name) return s.kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--template '", name, "' is not a shipped chat template (choices: ", ShippedNames(), ")"));
}

std::string Sha256Hex(absl::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

std::optional<ChatTemplateKind> ChatTemplateForSha256(absl::string_view sha256_hex) {
  for (const Shipped& s : kShipped) {
    if (*s.sha256 != '\0' && sha256_hex == s.sha256) return s.kind;
  }
  return std::nullopt;
}

absl::StatusOr<TokenizerChatConfig> LoadChatConfig(const std::string& tokenizer_dir,
                                                   absl::string_view override_name) {
  const std::string config_path = tokenizer_dir + "/tokenizer_config.json";
  auto text = ReadText(config_path);
  if (!text.ok()) return text.status();
  const nlohmann::json config = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(config_path, ": not a JSON object"));
  }
  TokenizerChatConfig out{};
  for (auto [key, field] : {std::pair{"bos_token", &out.bos_token}, std::pair{"eos_token", &out.eos_token},
                            std::pair{"pad_token", &out.pad_token}}) {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) continue;
    if (it->is_string()) {
      *field = it->get<std::string>();
    } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
      *field = (*it)["content"].get<std::string>();  // AddedToken form
    } else {
      return absl::InvalidArgumentError(absl::StrCat(config_path, ": ", key, ": expected a string or {\"content\": ...}"));
    }
  }
  if (!override_name.empty()) {
    auto kind = ParseChatTemplateName(override_name);
    if (!kind.ok()) return kind.status();
    out.kind = *kind;
    return out;
  }
  std::string source = config_path + " chat_template";
  std::string template_text;
  auto it = config.find("chat_template");
  if (it != config.end() && it->is_string()) {
    template_text = it->get<std::string>();
  } else if (it != config.end() && it->is_array()) {
    for (const auto& entry : *it) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string()) {
        template_text = entry["template"].get<std::string>();
      }
    }
  } else if (std::filesystem::exists(tokenizer_dir + "/chat_template.jinja")) {
    source = tokenizer_dir + "/chat_template.jinja";
    auto jinja = ReadText(source);
    if (!jinja.ok()) return jinja.status();
    template_text = *jinja;
  }
  if (template_text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(config_path, ": no chat_template; pass --template (choices: ",
                                                   ShippedNames(), ")"));
  }
  const std::string sha = Sha256Hex(template_text);
  auto kind = ChatTemplateForSha256(sha);
  if (!kind.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(source, " (sha256 ", sha, ") is not a shipped template; pass "
                                                   "--template (choices: ", ShippedNames(), ")"));
  }
  out.kind = *kind;
  return out;
}

absl::StatusOr<RenderedChat> RenderChat(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                                        const ChatRenderOptions& options) {
  std::vector<ChatMessage> rendered = messages;
  if (options.system.has_value() && (rendered.empty() || rendered[0].role != "system")) {
    rendered.insert(rendered.begin(), ChatMessage{"system", *options.system, std::nullopt, {}});
  }
  for (size_t i = 0; i < rendered.size(); ++i) {
    const ChatMessage& m = rendered[i];
    const bool chatml = kind == ChatTemplateKind::kQwen25 || kind == ChatTemplateKind::kQwen3;
    if ((m.role == "tool" || !m.tool_calls.empty()) && !chatml) {
      return absl::InvalidArgumentError(absl::StrCat("messages[", i, "]: the ", ChatTemplateName(kind),
                                                     " template has no tool turns (use qwen2.5 or qwen3)"));
    }
  }
  switch (kind) {
    case ChatTemplateKind::kQwen2: return RenderQwen2(rendered, options);
    case ChatTemplateKind::kQwen25: return RenderQwen25(rendered, options);
    case ChatTemplateKind::kQwen3: return RenderQwen3(rendered, options);
    case ChatTemplateKind::kLlama3: return RenderLlama3(rendered, options);
    case ChatTemplateKind::kAlpaca: return RenderAlpaca(rendered, options);
  }
  return absl::InternalError("unknown chat template kind");
}

}  // namespace zt::worker::data
