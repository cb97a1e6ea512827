#include "worker/model/init_model_command.h"

#include <CLI/CLI.hpp>
#include <ATen/Parallel.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "worker/command_status.h"
#include "worker/io/hf_export.h"
#include "worker/io/sharded_safetensors.h"
#include "worker/model/decoder.h"
#include "worker/model/lora_model.h"
#include "worker/model/model_folder.h"
#include "worker/model/model_presets.h"

namespace zt::worker::model {

absl::StatusOr<std::string> RunInitModel(const InitModelRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  ZT_ASSIGN_OR_RETURN(ModelPreset preset, FindPreset(request.preset, request.arch));
  ZT_ASSIGN_OR_RETURN(at::ScalarType dtype, ParseDtypeFlag(request.dtype, "--dtype"));
  ZT_ASSIGN_OR_RETURN(uint64_t shard_bytes,
                      io::ParseByteSize(request.max_shard_size, "--max_shard_size"));
  ZT_ASSIGN_OR_RETURN(Decoder decoder, Decoder::RandomInit(preset.config, request.seed, dtype,
                                                            preset.initializer_range));
  const io::NamedTensors tensors = decoder.BaseStateDict();
  ZT_RETURN_IF_ERROR(io::WriteHfModelFolder(request.out, HfConfigJson(preset, dtype), tensors,
                                            shard_bytes, request.tokenizer));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ParameterSummary count = SummarizeParameters(decoder);
  return absl::StrFormat("wrote %s: preset %s (%s), %d parameters, %s, in %.1f s",
                         request.out, preset.name, ArchitectureName(preset.config.arch),
                         count.all, HfDtypeName(dtype), seconds);
}

void AddInitModelCommand(CLI::App& app) {
  auto request = std::make_shared<InitModelRequest>();
  CLI::App* cmd = app.add_subcommand("init-model", "Write a random-initialised HF model folder");
  cmd->add_option("--arch", request->arch, "qwen2, qwen3 or llama (tiny's architecture)");
  cmd->add_option("--preset", request->preset,
                  "tiny, qwen2.5-0.5b, qwen2.5-1.5b, qwen2.5-7b, qwen2.5-14b, qwen3-0.6b, "
                  "qwen3-8b, qwen3-14b")->required();
  cmd->add_option("--tokenizer", request->tokenizer, "Folder whose tokenizer files are copied");
  cmd->add_option("--out", request->out, "Output folder")->required();
  cmd->add_option("--seed", request->seed, "Random seed (default 0)");
  cmd->add_option("--dtype", request->dtype, "bf16 (default) or fp32");
  cmd->add_option("--max_shard_size", request->max_shard_size, "Shard size, e.g. 5GB (default)");
  cmd->callback([request]() {
    at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    auto line = RunInitModel(*request);
    ExitIfError("init-model", line.status());
    std::cout << *line << "\n";
  });
}

}  // namespace zt::worker::model
