// `zerotune-worker generate --model DIR [--adapter DIR] [--prompt TEXT]... [--system TEXT]
//     [--template NAME] [--max_new_tokens 512] [--do_sample[=true|false]] [--temperature T]
//     [--top_k K] [--top_p P] [--repetition_penalty R] [--seed N] [--dtype fp32|bf16]
//     [--no_stream]`
// Chats with a model folder (a base plus a PEFT adapter, or a merged model) as HF transformers'
// generate() would: the conversation is rendered with the chat template (tokenizer_config.json's
// as the data pipeline recognises it, or --template) with the generation prompt, prefilled once
// into a KV cache (the part a previous turn already cached is reused) and continued token by token
// through sampling.h's processors until the template's end token (<|im_end|> for Qwen), an eos id
// of generation_config.json / config.json / the tokenizer, or --max_new_tokens. Sampling defaults
// follow HF's precedence: flag, then the folder's generation_config.json, then HF's global defaults
// (greedy; temperature 1, top_k 50, top_p 1, repetition_penalty 1). Each --prompt is one user turn
// of one conversation; without
// --prompt, user turns are stdin lines until EOF or "exit". Replies stream to stdout as complete
// UTF-8 characters, flushed per token (text_streamer.h), one line break after each reply.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/data/chat_template.h"
#include "worker/data/tokenizer.h"
#include "worker/model/decoder.h"
#include "worker/model/sampling.h"

namespace CLI {
class App;
}

namespace zt::worker::model {

// A KV cache kept across Generate calls (the turns of a chat) and the ids it holds.
struct GenerationCache {
  KvCache kv;
  std::vector<int64_t> ids;
};

// Continues `prompt` (ids, non-empty) with a KV cache: one prefill, then one token per step,
// picked by `sampler` from the last position's logits with prompt + generated ids as history.
// Stops after a token in `stop_ids` (which is kept, as HF) or `max_new_tokens` tokens.
// `on_token` (optional) sees each id as it is chosen. Returns the generated ids. With `cache`,
// the longest common prefix of cache->ids and `prompt` is reused (the cache is cut back to it)
// and only the rest is prefilled; afterwards the cache holds prompt + generated ids but the last.
std::vector<int64_t> Generate(const Decoder& decoder, const std::vector<int64_t>& prompt,
                              int64_t max_new_tokens, const std::vector<int64_t>& stop_ids,
                              TokenSampler& sampler,
                              const std::function<void(int64_t)>& on_token = nullptr,
                              GenerationCache* cache = nullptr);

struct GenerateRequest {
  std::string model;
  std::string adapter;
  std::string tokenizer;  // default: --model
  std::string template_name;
  std::optional<std::string> system;
  std::optional<bool> enable_thinking;  // Qwen3
  std::vector<std::string> prompts;     // empty: read user turns from the input stream
  std::string dtype = "fp32";
  int64_t max_new_tokens = 512;
  // Unset: the model folder's generation_config.json, else HF's global default.
  std::optional<bool> do_sample;
  std::optional<double> temperature;
  std::optional<int64_t> top_k;
  std::optional<double> top_p;
  std::optional<double> repetition_penalty;
  std::optional<uint64_t> seed;
  bool stream = true;
};

// The ids a reply stops at, sorted and unique: the chat template's end token (what it closes an
// assistant turn with: <|im_end|> for Qwen, <|eot_id|> for Llama 3), the tokenizer's eos_token,
// and the eos_token_id (an id or a list) of `model_dir`'s generation_config.json and config.json.
// InvalidArgument naming the file for an eos_token_id of another type.
absl::StatusOr<std::vector<int64_t>> StopTokenIds(const std::string& model_dir,
                                                  const data::Tokenizer& tokenizer,
                                                  const data::TokenizerChatConfig& chat);

// The sampling options `request` resolves to for the folder `model_dir` (HF's precedence);
// InvalidArgument for values HF rejects or an unreadable generation_config.json.
absl::StatusOr<SamplingOptions> ResolveSamplingOptions(const GenerateRequest& request,
                                                       const std::string& model_dir);

// Runs the chat: replies go to `out`. `err` (optional) gets HF's warning when sampling flags
// are given but decoding is greedy, and, with `prompt_marker` (for terminals), "> " before each
// stdin turn. Errors name the flag or file (missing model folder, tokenizer files, adapter for
// another base, unrecognised chat template).
absl::Status RunGenerate(const GenerateRequest& request, std::istream& in, std::ostream& out,
                         std::ostream* err = nullptr, bool prompt_marker = false);

void AddGenerateCommand(CLI::App& app);

}  // namespace zt::worker::model
