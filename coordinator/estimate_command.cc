#include "coordinator/estimate_command.h"

#include <iostream>
#include <memory>

#include "CLI/CLI.hpp"
#include "configs/diagnostics.h"
#include "configs/ds_config.h"
#include "configs/json_reader.h"
#include "configs/lora_target_modules.h"
#include "configs/model_config.h"
#include "configs/training_arguments_cli.h"
#include "sharding/model_state_estimate.h"

namespace zt::coordinator {
namespace {

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
  if (setup.lora) {
    absl::StatusOr<configs::LoraTargetModules> targets =
        configs::ParseLoraTargetModules(request.args.lora_target_modules);
    if (!targets.ok()) {
      err << "error: --lora_target_modules: " << targets.status().message() << "\n";
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
