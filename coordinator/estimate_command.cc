#include "coordinator/estimate_command.h"

#include <iostream>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "configs/diagnostics.h"
#include "configs/ds_config.h"
#include "configs/json_reader.h"
#include "configs/lora_target_modules.h"
#include "configs/model_config.h"
#include "configs/training_arguments_cli.h"
#include "sharding/model_state_estimate.h"

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

}  // namespace

int RunEstimate(const EstimateRequest& request, std::ostream& out, std::ostream& err) {
  const std::string model_dir =
      request.model.empty() ? request.args.model_name_or_path : request.model;
  if (model_dir.empty()) {
    err << "error: --model: no model folder given (--model DIR or --model_name_or_path DIR)\n";
    return 1;
  }
  if (request.args.deepspeed.empty()) {
    err << "error: --deepspeed: no ds_config given (--deepspeed FILE)\n";
    return 1;
  }
  if (request.num_gpus < 1) {
    err << "error: --num_gpus: must be >= 1, got " << request.num_gpus << "\n";
    return 1;
  }
  absl::StatusOr<configs::ModelConfig> model = configs::LoadModelConfig(model_dir);
  if (!model.ok()) {
    err << "error: --model: " << model.status().message() << "\n";
    return 1;
  }
  configs::Diagnostics diag;
  configs::ValidateTrainingArguments(request.args, diag);
  configs::DsResolveOptions options;
  options.world_size = request.num_gpus;
  options.args = &request.args;
  options.hidden_size = model->hidden_size;
  if (request.args.max_steps > 0) options.num_training_steps = request.args.max_steps;
  absl::StatusOr<nlohmann::json> raw = configs::ReadTolerantJsonFile(request.args.deepspeed);
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
