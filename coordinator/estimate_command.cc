#include "coordinator/estimate_command.h"

#include <iostream>
#include <memory>
#include <optional>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "configs/diagnostics.h"
#include "configs/ds_config.h"
#include "configs/json_reader.h"
#include "configs/lora_target_modules.h"
#include "configs/model_config.h"
#include "configs/training_arguments_cli.h"
#include "coordinator/estimate_presets.h"
#include "sharding/zero/model_state_estimate.h"

namespace zt::coordinator {
namespace {

// r and target_modules of a PEFT adapter folder's adapter_config.json (targets as
// --lora_target_modules text: a JSON list or a regex). InvalidArgument naming the file and key.
absl::Status ReadAdapterShape(const std::string& dir, int64_t& r, std::string& targets) {
  const std::string path = dir + "/adapter_config.json";
  absl::StatusOr<nlohmann::json> config = configs::ReadTolerantJsonFile(path);
  if (!config.ok()) return config.status();
  const nlohmann::json& rank = config->value("r", nlohmann::json());
  if (!rank.is_number_integer() || rank.get<int64_t>() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": r = ", rank.dump(), ", expected a positive integer"));
  }
  const nlohmann::json& modules = config->value("target_modules", nlohmann::json());
  if (!modules.is_string() && !modules.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": target_modules = ", modules.dump(),
                                                   ", expected a list of names or a regex"));
  }
  r = rank.get<int64_t>();
  targets = modules.is_string() ? modules.get<std::string>() : modules.dump();
  return absl::OkStatus();
}

// Flag issues as they are; ds_config issues (a JSON path) prefixed with the file.
void PrintIssues(const std::vector<configs::ConfigIssue>& issues, const std::string& file,
                 std::ostream& err) {
  for (const configs::ConfigIssue& issue : issues) {
    err << "error: ";
    if (issue.path.rfind("--", 0) != 0) err << file << ": ";
    err << issue.ToString() << "\n";
  }
}

// Without --deepspeed: what train runs without one (stage 0, the precision of --bf16 / --fp16).
const char kNoDsConfig[] = R"({"train_micro_batch_size_per_gpu": "auto",
  "gradient_accumulation_steps": "auto", "bf16": {"enabled": "auto"},
  "fp16": {"enabled": "auto"}, "zero_optimization": {"stage": 0}})";

// Bytes of the compute dtype: --bnb_4bit_compute_dtype with --q_lora, else --bf16 / --fp16.
int64_t ComputeBytes(const configs::TrainingArguments& args) {
  const std::string& dtype = args.bnb_4bit_compute_dtype;
  if (args.q_lora && !dtype.empty()) return dtype == "fp32" || dtype == "float32" ? 4 : 2;
  return args.bf16 || args.fp16 ? 2 : 4;
}

// One micro-batch's activations are counted with --q_lora or an explicit --model_max_length.
std::optional<sharding::ActivationSetup> ActivationsFor(const configs::TrainingArguments& args) {
  if (!args.q_lora && !args.IsSet("model_max_length")) return std::nullopt;
  sharding::ActivationSetup a;
  a.micro_batch = args.per_device_train_batch_size;
  a.seq_len = args.model_max_length;
  a.gradient_checkpointing = args.gradient_checkpointing;
  a.compute_bytes = ComputeBytes(args);
  a.lora_dropout = args.lora_dropout > 0;
  return a;
}

absl::StatusOr<configs::ModelConfig> ModelFor(const EstimateRequest& request) {
  const std::string model_dir =
      request.model.empty() ? request.args.model_name_or_path : request.model;
  if (!request.preset.empty() && !model_dir.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--preset: give --preset ", request.preset, " or --model ", model_dir,
                     ", not both"));
  }
  if (!request.preset.empty()) return EstimatePresetConfig(request.preset);
  if (model_dir.empty()) {
    return absl::InvalidArgumentError(
        "--model: no model given (--model DIR, --model_name_or_path DIR or --preset NAME)");
  }
  absl::StatusOr<configs::ModelConfig> model = configs::LoadModelConfig(model_dir);
  if (!model.ok()) {
    return absl::Status(model.status().code(), absl::StrCat("--model: ", model.status().message()));
  }
  return model;
}

}  // namespace

int RunEstimate(const EstimateRequest& request, std::ostream& out, std::ostream& err) {
  if (request.num_gpus < 1) {
    err << "error: --num_gpus: must be >= 1, got " << request.num_gpus << "\n";
    return 1;
  }
  absl::StatusOr<configs::ModelConfig> model = ModelFor(request);
  if (!model.ok()) {
    err << "error: " << model.status().message() << "\n";
    return 1;
  }
  configs::Diagnostics diag;
  configs::ValidateTrainingArguments(request.args, diag);
  configs::DsResolveOptions options;
  options.world_size = request.num_gpus;
  options.args = &request.args;
  options.hidden_size = model->hidden_size;
  if (request.args.max_steps > 0) options.num_training_steps = request.args.max_steps;
  absl::StatusOr<nlohmann::json> raw =
      request.args.deepspeed.empty()
          ? absl::StatusOr<nlohmann::json>(nlohmann::json::parse(kNoDsConfig))
          : configs::ReadTolerantJsonFile(request.args.deepspeed);
  if (!raw.ok()) {
    err << "error: --deepspeed: " << raw.status().message() << "\n";
    return 1;
  }
  configs::DsConfig ds = configs::ResolveDsConfig(*raw, options, diag);
  if (diag.has_errors()) {
    PrintIssues(diag.errors(), request.args.deepspeed, err);
    return 1;
  }
  sharding::TrainingSetup setup;
  setup.lora = request.args.use_lora;
  setup.q_lora = request.args.q_lora;
  setup.lora_r = request.args.lora_r;
  setup.double_quant = request.args.bnb_4bit_use_double_quant;
  if (request.args.q_lora && request.args.kbit_upcast == "fp32") setup.frozen_param_bytes = 4;
  setup.activations = ActivationsFor(request.args);
  std::string targets_text = request.args.lora_target_modules;
  const char* targets_flag = "--lora_target_modules";
  if (!request.args.adapter_name_or_path.empty()) {
    // Training takes r and target_modules from the adapter it continues: so does the estimate.
    absl::Status read = ReadAdapterShape(request.args.adapter_name_or_path, setup.lora_r,
                                         targets_text);
    if (!read.ok()) {
      err << "error: --adapter_name_or_path: " << read.message() << "\n";
      return 1;
    }
    targets_flag = "--adapter_name_or_path";
  }
  if (setup.lora) {
    absl::StatusOr<configs::LoraTargetModules> targets =
        configs::ParseLoraTargetModules(targets_text);
    if (!targets.ok()) {
      err << "error: " << targets_flag << ": " << targets.status().message() << "\n";
      return 1;
    }
    setup.lora_targets = *targets;
  }
  absl::StatusOr<sharding::ModelStateEstimate> estimate = sharding::EstimateModelStates(
      *model, setup, ds, static_cast<int>(request.num_gpus));
  if (!estimate.ok()) {
    err << "error: " << estimate.status().message() << "\n";
    return 1;
  }
  if (request.json) {
    out << sharding::EstimateToJson(*estimate).dump(2) << "\n";
  } else {
    out << sharding::FormatEstimateTable(*estimate);
  }
  return 0;
}

void AddEstimateCommand(CLI::App& app) {
  auto request = std::make_shared<EstimateRequest>();
  CLI::App* command = app.add_subcommand(
      "estimate",
      "Model-state bytes per rank (weights, adapters, gradients, optimizer) for ZeRO stages 0-3");
  command->add_option("--model", request->model, "HF model folder (config.json)");
  command->add_option("--preset", request->preset,
                      "a known base model instead of --model: " +
                          absl::StrJoin(EstimatePresetNames(), ", "));
  command->add_option("--num_gpus", request->num_gpus, "data-parallel ranks")
      ->capture_default_str();
  command->add_flag("--json", request->json, "print JSON instead of the table");
  configs::AddTrainingArgumentOptions(*command, &request->args);
  command->callback([request] {
    const int rc = RunEstimate(*request, std::cout, std::cerr);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace zt::coordinator
