#include "worker/model/generate_command.h"

#include <ATen/Parallel.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/command_status.h"
#include "worker/model/model_folder.h"
#include "worker/model/text_streamer.h"

namespace zt::worker::model {
namespace {

bool FileExists(const std::string& path) { return std::ifstream(path).good(); }

// `dir`/`name` as a JSON object, or nullopt when the file does not exist.
absl::StatusOr<std::optional<nlohmann::json>> ReadOptionalJson(const std::string& dir,
                                                               const std::string& name) {
  const std::string path = dir + "/" + name;
  std::ifstream in(path);
  if (!in) return std::optional<nlohmann::json>();
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));
  }
  return std::optional<nlohmann::json>(std::move(json));
}

absl::Status TypeError(const std::string& path, const char* key, const nlohmann::json& value,
                       const char* expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": \"", key, "\" is ", value.dump(), ", expected ", expected));
}

// HF generation_config.json values for unset flags; null values count as unset.
absl::Status ApplyGenerationConfig(const nlohmann::json& config, const std::string& path,
                                   const GenerateRequest& request, SamplingOptions& options) {
  auto number = [&](const char* key, const std::optional<double>& flag,
                    double& out) -> absl::Status {
    if (flag) {
      out = *flag;
    } else if (config.contains(key) && !config[key].is_null()) {
      if (!config[key].is_number()) return TypeError(path, key, config[key], "a number");
      out = config[key].get<double>();
    }
    return absl::OkStatus();
  };
  if (request.do_sample) {
    options.do_sample = *request.do_sample;
  } else if (config.contains("do_sample") && !config["do_sample"].is_null()) {
    if (!config["do_sample"].is_boolean())
      return TypeError(path, "do_sample", config["do_sample"], "true or false");
    options.do_sample = config["do_sample"].get<bool>();
  }
  ZT_RETURN_IF_ERROR(number("temperature", request.temperature, options.temperature));
  ZT_RETURN_IF_ERROR(number("top_p", request.top_p, options.top_p));
  ZT_RETURN_IF_ERROR(
      number("repetition_penalty", request.repetition_penalty, options.repetition_penalty));
  if (request.top_k) {
    options.top_k = *request.top_k;
  } else if (config.contains("top_k") && !config["top_k"].is_null()) {
    if (!config["top_k"].is_number_integer())
      return TypeError(path, "top_k", config["top_k"], "an integer");
    options.top_k = config["top_k"].get<int64_t>();
  }
  return absl::OkStatus();
}

// eos_token_id of a config file: an id or a list of ids.
absl::Status AddEosIds(const nlohmann::json& config, const std::string& path,
                       std::vector<int64_t>& ids) {
  if (!config.contains("eos_token_id") || config["eos_token_id"].is_null()) return absl::OkStatus();
  const nlohmann::json& eos = config["eos_token_id"];
  if (eos.is_number_integer()) {
    ids.push_back(eos.get<int64_t>());
    return absl::OkStatus();
  }
  if (!eos.is_array()) return TypeError(path, "eos_token_id", eos, "an id or a list of ids");
  for (const auto& id : eos) {
    if (!id.is_number_integer())
      return TypeError(path, "eos_token_id", eos, "an id or a list of ids");
    ids.push_back(id.get<int64_t>());
  }
  return absl::OkStatus();
}

// The text the template closes an assistant turn with ("<|im_end|>", "<|eot_id|>", Alpaca's eos).
std::string TemplateEndText(data::ChatTemplateKind kind, const data::ChatRenderOptions& options) {
  std::vector<data::ChatMessage> probe(2);
  probe[0].role = "user";
  probe[0].content = "x";
  probe[1].role = "assistant";
  probe[1].content = "y";
  data::ChatRenderOptions render = options;
  render.add_generation_prompt = false;
  auto chat = data::RenderChat(kind, probe, render);
  if (!chat.ok()) return "";
  for (const data::RenderedSpan& span : chat->spans) {
    if (span.message == 1 && span.part == data::TurnPart::kEnd) {
      return chat->text.substr(span.span.begin, span.span.end - span.span.begin);
    }
  }
  return "";
}

// Everything a chat session needs, loaded once.
struct Session {
  Decoder decoder;
  std::unique_ptr<data::Tokenizer> tokenizer;
  data::ChatTemplateKind kind;
  data::ChatRenderOptions render;
  std::vector<int64_t> stop_ids;
  GenerationCache cache;  // the conversation so far
};

absl::StatusOr<Session> OpenSession(const GenerateRequest& request) {
  if (!FileExists(request.model + "/config.json")) {
    return absl::NotFoundError(absl::StrCat(
        "--model ", request.model, ": cannot read ", request.model,
        "/config.json (hint: --model takes an HF model folder: config.json, *.safetensors and the "
        "tokenizer files; for an adapter pass its base here and the adapter folder as --adapter)"));
  }
  const std::string tokenizer_dir = request.tokenizer.empty() ? request.model : request.tokenizer;
  if (!FileExists(tokenizer_dir + "/tokenizer.json") &&
      !FileExists(tokenizer_dir + "/tokenizer.json.gz")) {
    return absl::NotFoundError(absl::StrCat(
        "cannot read ", tokenizer_dir,
        "/tokenizer.json (hint: the model folder needs its tokenizer "
        "files, e.g. init-model --tokenizer DIR or merge copy them; or pass --tokenizer DIR)"));
  }
  ZT_ASSIGN_OR_RETURN(at::ScalarType dtype, ParseDtypeFlag(request.dtype, "--dtype"));
  ZT_ASSIGN_OR_RETURN(Decoder decoder, LoadModelFolder(request.model, dtype, request.adapter));
  ZT_ASSIGN_OR_RETURN(std::unique_ptr<data::Tokenizer> tokenizer,
                      data::Tokenizer::FromDirectory(tokenizer_dir));
  ZT_ASSIGN_OR_RETURN(data::TokenizerChatConfig chat,
                      data::LoadChatConfig(tokenizer_dir, request.template_name));
  Session session{std::move(decoder), std::move(tokenizer), chat.kind, {}, {}, {}};
  session.render.add_generation_prompt = true;
  session.render.system = request.system;
  session.render.enable_thinking = request.enable_thinking;
  session.render.bos_token = chat.bos_token;
  session.render.eos_token = chat.eos_token;
  ZT_ASSIGN_OR_RETURN(session.stop_ids, StopTokenIds(request.model, *session.tokenizer, chat));
  return session;
}

// One assistant turn for `messages`: streams (or prints) the reply and returns its text.
absl::StatusOr<std::string> Reply(Session& session, const GenerateRequest& request,
                                  const std::vector<data::ChatMessage>& messages,
                                  TokenSampler& sampler, std::ostream& out) {
  ZT_ASSIGN_OR_RETURN(data::RenderedChat chat,
                      data::RenderChat(session.kind, messages, session.render));
  const std::vector<data::ByteSpan> trusted = chat.TrustedRanges();
  data::EncodeOptions encode;
  encode.split_special_tokens = true;  // "<|im_end|>" typed by the user stays text
  encode.trusted = &trusted;
  ZT_ASSIGN_OR_RETURN(std::vector<int32_t> ids32, session.tokenizer->EncodeIds(chat.text, encode));
  const std::vector<int64_t> prompt(ids32.begin(), ids32.end());
  const int64_t vocab = session.decoder.config().vocab_size;
  for (int64_t id : prompt) {
    if (id >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("the prompt encodes to token id ", id, ", outside the model's vocab_size ",
                       vocab, " (hint: --tokenizer does not belong to --model)"));
    }
  }
  TextStreamer streamer(*session.tokenizer, [&](absl::string_view piece) {
    if (request.stream) out << piece << std::flush;
  });
  Generate(
      session.decoder, prompt, request.max_new_tokens, session.stop_ids, sampler,
      [&](int64_t id) { streamer.Put(static_cast<int32_t>(id)); }, &session.cache);
  streamer.End();
  if (!request.stream) out << streamer.text();
  out << "\n" << std::flush;
  return streamer.text();
}

}  // namespace

std::vector<int64_t> Generate(const Decoder& decoder, const std::vector<int64_t>& prompt,
                              int64_t max_new_tokens, const std::vector<int64_t>& stop_ids,
                              TokenSampler& sampler, const std::function<void(int64_t)>& on_token,
                              GenerationCache* cache) {
  if (prompt.empty() || max_new_tokens <= 0) return {};
  at::NoGradGuard no_grad;
  const at::Device device = decoder.embed_tokens().device();
  GenerationCache local;
  GenerationCache& state = cache != nullptr ? *cache : local;
  // Reuse the cached common prefix, leaving at least one prompt token to compute logits from.
  const size_t limit = std::min(state.ids.size(), prompt.size() - 1);
  size_t reused = 0;
  while (reused < limit && state.ids[reused] == prompt[reused]) ++reused;
  for (LayerCache& layer : state.kv.layers) {
    if (layer.k.defined()) {
      layer.k = layer.k.narrow(2, 0, static_cast<int64_t>(reused));
      layer.v = layer.v.narrow(2, 0, static_cast<int64_t>(reused));
    }
  }
  std::vector<int64_t> history = prompt;
  std::vector<int64_t> generated;
  at::Tensor next =
      at::tensor(std::vector<int64_t>(prompt.begin() + reused, prompt.end()), at::kLong)
          .unsqueeze(0)
          .to(device);
  for (int64_t step = 0; step < max_new_tokens; ++step) {
    const at::Tensor logits = decoder.Logits(next, at::Tensor(), {}, &state.kv);
    const int64_t id = sampler.Next(at::tensor(history, at::kLong), logits[0][logits.size(1) - 1]);
    generated.push_back(id);
    history.push_back(id);
    if (on_token) on_token(id);
    if (std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end()) break;
    next = at::full({1, 1}, id, at::TensorOptions().dtype(at::kLong).device(device));
  }
  history.pop_back();  // the last id was never fed
  state.ids = std::move(history);
  return generated;
}

absl::StatusOr<std::vector<int64_t>> StopTokenIds(const std::string& model_dir,
                                                  const data::Tokenizer& tokenizer,
                                                  const data::TokenizerChatConfig& chat) {
  data::ChatRenderOptions render;
  render.bos_token = chat.bos_token;
  render.eos_token = chat.eos_token;
  std::vector<int64_t> stop;
  for (const std::string& text : {TemplateEndText(chat.kind, render), chat.eos_token}) {
    if (text.empty()) continue;
    if (const int32_t id = tokenizer.TokenToId(text); id >= 0) stop.push_back(id);
  }
  for (const char* name : {"generation_config.json", "config.json"}) {
    ZT_ASSIGN_OR_RETURN(std::optional<nlohmann::json> config, ReadOptionalJson(model_dir, name));
    if (config) ZT_RETURN_IF_ERROR(AddEosIds(*config, model_dir + "/" + name, stop));
  }
  std::sort(stop.begin(), stop.end());
  stop.erase(std::unique(stop.begin(), stop.end()), stop.end());
  return stop;
}

absl::StatusOr<SamplingOptions> ResolveSamplingOptions(const GenerateRequest& request,
                                                       const std::string& model_dir) {
  SamplingOptions options;
  const std::string path = model_dir + "/generation_config.json";
  ZT_ASSIGN_OR_RETURN(std::optional<nlohmann::json> config,
                      ReadOptionalJson(model_dir, "generation_config.json"));
  ZT_RETURN_IF_ERROR(
      ApplyGenerationConfig(config ? *config : nlohmann::json::object(), path, request, options));
  ZT_RETURN_IF_ERROR(ValidateSamplingOptions(options));
  return options;
}

absl::Status RunGenerate(const GenerateRequest& request, std::istream& in, std::ostream& out,
                         std::ostream* err, bool prompt_marker) {
  if (request.max_new_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_new_tokens ", request.max_new_tokens, ", expected >= 1"));
  }
  ZT_ASSIGN_OR_RETURN(SamplingOptions options, ResolveSamplingOptions(request, request.model));
  if (err != nullptr && !options.do_sample &&
      (request.temperature || request.top_k || request.top_p)) {
    *err << "zerotune-worker generate: decoding is greedy (no --do_sample), so --temperature, "
            "--top_k and --top_p have no effect (as in HF generate)\n";
  }
  ZT_ASSIGN_OR_RETURN(Session session, OpenSession(request));
  TokenSampler sampler(options, request.seed);
  std::vector<data::ChatMessage> messages;
  auto turn = [&](const std::string& text) -> absl::Status {
    messages.push_back({"user", text, std::nullopt, {}});
    ZT_ASSIGN_OR_RETURN(std::string reply, Reply(session, request, messages, sampler, out));
    messages.push_back({"assistant", reply, std::nullopt, {}});
    return absl::OkStatus();
  };
  for (const std::string& prompt : request.prompts) ZT_RETURN_IF_ERROR(turn(prompt));
  if (!request.prompts.empty()) return absl::OkStatus();
  std::string line;
  while (true) {
    if (prompt_marker && err != nullptr) *err << "> " << std::flush;
    if (!std::getline(in, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == "exit") break;
    if (line.empty()) continue;
    ZT_RETURN_IF_ERROR(turn(line));
  }
  return absl::OkStatus();
}

void AddGenerateCommand(CLI::App& app) {
  auto request = std::make_shared<GenerateRequest>();
  auto system = std::make_shared<std::string>();
  auto thinking = std::make_shared<std::string>();
  auto seed = std::make_shared<uint64_t>(0);
  auto do_sample = std::make_shared<bool>(false);
  auto temperature = std::make_shared<double>(1.0);
  auto top_k = std::make_shared<int64_t>(50);
  auto top_p = std::make_shared<double>(1.0);
  auto penalty = std::make_shared<double>(1.0);
  auto no_stream = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "generate", "Chat with a model (+ PEFT adapter): stream generated replies");
  cmd->add_option("--model", request->model,
                  "HF model folder (config.json, safetensors, tokenizer files)")
      ->required();
  cmd->add_option("--adapter", request->adapter, "PEFT adapter folder trained on --model");
  cmd->add_option("--tokenizer", request->tokenizer,
                  "Folder with tokenizer.json (default: --model)");
  cmd->add_option("--prompt", request->prompts,
                  "User turn (repeatable); none: read turns from stdin");
  CLI::Option* system_opt =
      cmd->add_option("--system", *system, "System prompt replacing the template's default");
  cmd->add_option("--template", request->template_name,
                  "qwen2, qwen2.5, qwen3, llama3 or alpaca (default: recognise)");
  CLI::Option* thinking_opt =
      cmd->add_option("--enable_thinking", *thinking, "Qwen3: false adds the empty think block")
          ->check(CLI::IsMember({"true", "false"}));
  cmd->add_option("--max_new_tokens", request->max_new_tokens,
                  "Most tokens per reply (default 512)");
  CLI::Option* do_sample_opt =
      cmd->add_flag("--do_sample", *do_sample,
                    "Sample instead of greedy (default: generation_config.json, else false)");
  CLI::Option* temperature_opt =
      cmd->add_option("--temperature", *temperature, "Sampling temperature (HF default 1.0)");
  CLI::Option* top_k_opt = cmd->add_option(
      "--top_k", *top_k, "Keep the k best tokens when sampling (HF default 50; 0 off)");
  CLI::Option* top_p_opt =
      cmd->add_option("--top_p", *top_p, "Nucleus sampling mass (HF default 1.0 = off)");
  CLI::Option* penalty_opt = cmd->add_option("--repetition_penalty", *penalty,
                                             "HF repetition penalty (default 1.0 = off)");
  CLI::Option* seed_opt = cmd->add_option("--seed", *seed, "Sampling seed (default: random)");
  cmd->add_option("--dtype", request->dtype, "fp32 (default) or bf16");
  cmd->add_flag("--no_stream", *no_stream,
                "Print each reply when complete instead of token by token");
  cmd->callback([=]() {
    if (system_opt->count() > 0) request->system = *system;
    if (thinking_opt->count() > 0) request->enable_thinking = *thinking == "true";
    if (do_sample_opt->count() > 0) request->do_sample = *do_sample;
    if (temperature_opt->count() > 0) request->temperature = *temperature;
    if (top_k_opt->count() > 0) request->top_k = *top_k;
    if (top_p_opt->count() > 0) request->top_p = *top_p;
    if (penalty_opt->count() > 0) request->repetition_penalty = *penalty;
    if (seed_opt->count() > 0) request->seed = *seed;
    request->stream = !*no_stream;
    // A standalone tool: use the host (LibTorch's default is one intra-op thread).
    at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    const bool terminal = request->prompts.empty() && isatty(STDIN_FILENO) != 0;
    ExitIfError("generate", RunGenerate(*request, std::cin, std::cout, &std::cerr, terminal));
  });
}

}  // namespace zt::worker::model
