// Chat templates shipped as C++ renderers, each equal byte for byte to what transformers'
// apply_chat_template produces with the model's own Jinja template. A tokenizer folder's
// template is recognised by the SHA-256 of the exact template text (no heuristics); anything
// else needs --template. Rendering also returns labelled spans of the text: which message a
// byte belongs to and which part of the turn it is, for loss masks and for deciding where
// special tokens may be recognised (only in template-written parts).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/data/chat_message.h"
#include "worker/data/regex_splitter.h"

namespace zt::worker::data {

enum class ChatTemplateKind { kQwen2, kQwen25, kQwen3, kLlama3, kAlpaca };

// What a span of rendered text is.
enum class TurnPart {
  kPrelude,      // text before any message (Llama-3 BOS)
  kStart,        // "<|im_start|>", "<|start_header_id|>"
  kRoleName,     // "assistant\n", "user<|end_header_id|>\n\n", tool-response wrappers
  kContent,      // the message's own text (untrusted)
  kReasoning,    // Qwen3 "<think>\n" ... "\n</think>\n\n" wrapper (template-written)
  kToolCall,     // template-written tool-call / tools-system syntax
  kEnd,          // "<|im_end|>", "<|eot_id|>"
  kSeparator,    // the "\n" after "<|im_end|>"
  kGenerationPrompt,
};

struct RenderedSpan {
  ByteSpan span;
  int message = -1;  // index into the rendered messages; -1 for prelude and generation prompt
  std::string role;  // the message's role ("" for -1)
  TurnPart part = TurnPart::kPrelude;
};

struct RenderedChat {
  std::string text;
  std::vector<RenderedSpan> spans;  // cover text in order, no gaps
  // Byte ranges the template wrote (everything but kContent), for EncodeOptions::trusted.
  std::vector<ByteSpan> TrustedRanges() const;
};

struct ChatRenderOptions {
  bool add_generation_prompt = false;
  std::optional<bool> enable_thinking;      // Qwen3: false adds the empty think block
  std::vector<nlohmann::ordered_json> tools;  // function schemas, rendered with tojson
  std::optional<std::string> system;        // replaces the template's default system prompt
  std::string bos_token;                    // Llama-3: "<|begin_of_text|>"
  std::string eos_token;                    // Alpaca: appended after the response
};

// "qwen2", "qwen2.5", "qwen3", "llama3", "alpaca".
absl::string_view ChatTemplateName(ChatTemplateKind kind);
// InvalidArgument naming --template and the shipped choices for unknown names.
absl::StatusOr<ChatTemplateKind> ParseChatTemplateName(absl::string_view name);

// Lowercase hex SHA-256 of `text`.
std::string Sha256Hex(absl::string_view text);

// The shipped template whose exact text has this SHA-256, or nullopt.
std::optional<ChatTemplateKind> ChatTemplateForSha256(absl::string_view sha256_hex);

// Reads the chat template of a tokenizer folder (tokenizer_config.json "chat_template" as a
// string or the "default" entry of a list, else chat_template.jinja) and recognises it, along
// with bos/eos tokens. `override_name` (from --template) wins when non-empty.
struct TokenizerChatConfig {
  ChatTemplateKind kind;
  std::string bos_token;
  std::string eos_token;
  std::string pad_token;
};
absl::StatusOr<TokenizerChatConfig> LoadChatConfig(const std::string& tokenizer_dir,
                                                   absl::string_view override_name);

// Renders `messages`. InvalidArgument for conversations the template cannot express (e.g. a
// tool turn under Llama-3, or an Alpaca conversation that is not system?/user/assistant).
absl::StatusOr<RenderedChat> RenderChat(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                                        const ChatRenderOptions& options);

}  // namespace zt::worker::data
