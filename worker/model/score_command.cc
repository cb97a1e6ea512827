#include "worker/model/score_command.h"

#include <CLI/CLI.hpp>

#include <ATen/Parallel.h>

#include <algorithm>
#include <iostream>
#include <thread>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/command_status.h"
#include "worker/model/model_folder.h"

namespace zt::worker::model {
namespace {

absl::StatusOr<std::vector<int64_t>> ParseIds(const std::string& text, int64_t vocab_size) {
  std::vector<int64_t> ids;
  for (absl::string_view piece : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(piece, &id) || id < 0 || id >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--ids: \"", piece, "\" is not a token id in [0, ", vocab_size, ") (vocab_size of the model)"));
    }
    ids.push_back(id);
  }
  if (ids.empty()) return absl::InvalidArgumentError("--ids: expected comma-separated token ids, e.g. 3,14,15,92");
  return ids;
}

}  // namespace

absl::StatusOr<std::string> RunScore(const ScoreRequest& request) {
  ZT_ASSIGN_OR_RETURN(at::ScalarType dtype, ParseDtypeFlag(request.dtype, "--dtype"));
  if (request.greedy < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--greedy ", request.greedy, ", expected >= 0"));
  }
  ZT_ASSIGN_OR_RETURN(Decoder decoder, LoadModelFolder(request.model, dtype, request.adapter));
  ZT_ASSIGN_OR_RETURN(std::vector<int64_t> ids, ParseIds(request.ids, decoder.config().vocab_size));
  at::NoGradGuard no_grad;
  const at::Tensor input = at::tensor(ids, at::kLong).unsqueeze(0);
  const at::Tensor logits = decoder.Logits(input, at::Tensor());
  nlohmann::json out;
  out["loss"] = ids.size() < 2 ? nlohmann::json(nullptr)
                               : nlohmann::json(CausalLmLoss(logits, input).item<double>());
  const at::Tensor last = logits[0][logits.size(1) - 1].to(at::kFloat);
  const at::Tensor top = std::get<1>(last.topk(std::min<int64_t>(5, last.size(0))));
  out["last_top5"] = std::vector<int64_t>(top.data_ptr<int64_t>(), top.data_ptr<int64_t>() + top.numel());
  if (request.greedy > 0) out["greedy"] = GreedyGenerate(decoder, input, request.greedy);
  return out.dump();
}

void AddScoreCommand(CLI::App& app) {
  auto request = std::make_shared<ScoreRequest>();
  CLI::App* cmd = app.add_subcommand("score", "Loss, top-5 next ids and greedy ids of a model on token ids");
  cmd->add_option("--model", request->model, "HF model folder (config.json + safetensors)")->required();
  cmd->add_option("--adapter", request->adapter, "PEFT adapter folder");
  cmd->add_option("--dtype", request->dtype, "fp32 (default) or bf16");
  cmd->add_option("--ids", request->ids, "Comma-separated token ids, e.g. 3,14,15,92")->required();
  cmd->add_option("--greedy", request->greedy, "Greedily generate this many ids (KV cache)");
  cmd->callback([request]() {
    // A standalone tool: use the host (LibTorch's default is one intra-op thread).
    at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    auto line = RunScore(*request);
    ExitIfError("score", line.status());
    std::cout << *line << "\n";
  });
}

}  // namespace zt::worker::model
