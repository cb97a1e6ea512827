#include "coordinator/validate_config_command.h"

#include <memory>
#include <ostream>

#include "CLI/CLI.hpp"
#include "configs/diagnostics.h"
#include "configs/ds_config.h"
#include "configs/json_reader.h"
#include "configs/model_config.h"
#include "configs/training_arguments_cli.h"

namespace zt::coordinator {
namespace {

void PrintIssues(const std::vector<configs::ConfigIssue>& issues, const char* kind,
                 std::ostream& err) {
  for (const configs::ConfigIssue& issue : issues) err << kind << ": " << issue.ToString() << "\n";
}

}  // namespace

int RunValidateConfig(const ValidateConfigRequest& request, std::ostream& out, std::ostream& err) {
  const std::string path =
      request.config_path.empty() ? request.args.deepspeed : request.config_path;
  if (path.empty()) {
    err << "error: no ds_config given (FILE or --deepspeed)\n";
    return 1;
  }
  configs::Diagnostics diag;
  if (request.world_size <= 0) {
    diag.Error("--world-size", "must be > 0, got " + std::to_string(request.world_size));
  }
  configs::ValidateTrainingArguments(request.args, diag);
  configs::DsResolveOptions options;
  options.world_size = request.world_size > 0 ? request.world_size : 1;
  options.args = &request.args;
  if (request.args.max_steps > 0) options.num_training_steps = request.args.max_steps;
  if (!request.args.model_name_or_path.empty()) {
    absl::StatusOr<configs::ModelConfig> model =
        configs::LoadModelConfig(request.args.model_name_or_path);
    if (model.ok()) {
      options.hidden_size = model->hidden_size;
    } else {
      diag.Error("--model_name_or_path", model.status().message());
    }
  }
  absl::StatusOr<nlohmann::json> raw = configs::ReadTolerantJsonFile(path);
  if (!raw.ok()) {
    err << "error: " << raw.status().message() << "\n";
    return 1;
  }
  configs::DsConfig config = configs::ResolveDsConfig(*raw, options, diag);
  PrintIssues(diag.warnings(), "warning", err);
  if (diag.has_errors()) {
    err << path << ": " << diag.errors().size()
        << (diag.errors().size() == 1 ? " error\n" : " errors\n");
    PrintIssues(diag.errors(), "error", err);
    return 1;
  }
  out << config.resolved.dump(2) << "\n";
  return 0;
}

void AddValidateConfigCommand(CLI::App& app) {
  auto request = std::make_shared<ValidateConfigRequest>();
  CLI::App* command = app.add_subcommand(
      "validate-config",
      "Resolve a DeepSpeed config as DeepSpeed and the HF Trainer would, print it as JSON");
  command->add_option("FILE", request->config_path, "ds_config JSON file (or --deepspeed)");
  command->add_option("--world-size", request->world_size, "data-parallel ranks")
      ->capture_default_str();
  configs::AddTrainingArgumentOptions(*command, &request->args);
  command->callback([request] {
    const int rc = RunValidateConfig(*request, std::cout, std::cerr);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace zt::coordinator
