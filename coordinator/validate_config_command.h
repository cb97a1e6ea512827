// `zerotune validate-config FILE [--world-size N] [training arguments]`: reads a ds_config the
// way DeepSpeed does and resolves it for N data-parallel ranks and the given training arguments
// (configs/ds_config.h). On success prints the fully resolved config (DeepSpeed key names, every
// default filled in) as JSON on stdout and exits 0; otherwise prints every error on stderr, one
// "error: <json path or flag>: <message>" line each, and exits 1. Warnings (accepted but
// ignored settings, "auto" values resolved only at launch) go to stderr as "warning: ..." lines.
// With --model_name_or_path the model's config.json gives hidden_size for the bucket "auto"s;
// with --max_steps the scheduler's step "auto"s resolve too. Torch-free.
#pragma once

#include <iosfwd>
#include <string>

#include "CLI/App.hpp"
#include "configs/training_arguments.h"

namespace zt::coordinator {

struct ValidateConfigRequest {
  std::string config_path;  // FILE, or --deepspeed when FILE is absent
  int64_t world_size = 1;
  configs::TrainingArguments args;
};

// The command's body; returns the exit code.
int RunValidateConfig(const ValidateConfigRequest& request, std::ostream& out, std::ostream& err);

// Registers the subcommand on the `zerotune` app.
void AddValidateConfigCommand(CLI::App& app);

}  // namespace zt::coordinator
