#include "worker/model/merge_command.h"

#include <CLI/CLI.hpp>

#include <ATen/Parallel.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "worker/cli/command_status.h"
#include "worker/io/hf_export.h"
#include "worker/io/sharded_safetensors.h"
#include "worker/model/lora_model.h"
#include "worker/model/model_folder.h"
#include "worker/model/model_presets.h"

namespace zt::worker::model {
namespace {

absl::StatusOr<at::ScalarType> OutputDtype(const std::string& flag, const nlohmann::json& config) {
  if (flag != "auto") return ParseDtypeFlag(flag, "--dtype");
  for (const char* key : {"dtype", "torch_dtype"}) {
    if (config.contains(key) && config[key].is_string()) {
      return ParseDtypeFlag(config[key].get<std::string>(), std::string("config.json ") + key);
    }
  }
  return at::kFloat;
}

}  // namespace

absl::StatusOr<std::string> RunMerge(const MergeRequest& request) {
  ZT_ASSIGN_OR_RETURN(uint64_t shard_bytes,
                      io::ParseByteSize(request.max_shard_size, "--max_shard_size"));
  ZT_ASSIGN_OR_RETURN(nlohmann::json config, io::ReadConfigJson(request.base));
  ZT_ASSIGN_OR_RETURN(at::ScalarType dtype, OutputDtype(request.dtype, config));
  ZT_ASSIGN_OR_RETURN(Decoder decoder, LoadModelFolder(request.base, dtype, request.adapter));
  const size_t merged = LoraModuleNames(decoder).size();
  MergeLora(decoder);
  config["torch_dtype"] = HfDtypeName(dtype);
  config["dtype"] = HfDtypeName(dtype);
  ZT_RETURN_IF_ERROR(io::WriteHfModelFolder(request.output, config, decoder.BaseStateDict(),
                                            shard_bytes, request.base));
  return absl::StrFormat("merged %d adapted linears of %s into %s (%s)", merged, request.adapter,
                         request.output, HfDtypeName(dtype));
}

void AddMergeCommand(CLI::App& app) {
  auto request = std::make_shared<MergeRequest>();
  CLI::App* cmd = app.add_subcommand("merge", "Merge a PEFT LoRA adapter into its base model");
  cmd->add_option("--base", request->base, "HF base model folder")->required();
  cmd->add_option("--adapter", request->adapter, "PEFT adapter folder")->required();
  cmd->add_option("--output", request->output, "Output folder")->required();
  cmd->add_option("--max_shard_size", request->max_shard_size, "Shard size, e.g. 2GB (default 5GB)");
  cmd->add_option("--dtype", request->dtype, "auto (default: the base's), fp32, bf16 or fp16");
  cmd->callback([request]() {
    // A standalone tool: use the host (LibTorch's default is one intra-op thread).
    at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    auto line = RunMerge(*request);
    cli::ExitIfError("merge", line.status());
    std::cout << *line << "\n";
  });
}

}  // namespace zt::worker::model
