// CLI11 options for every training argument (training_arguments.h), so each zerotune CLI
// accepts the same `--name value` flags with the same --help text. Bool arguments take an
// optional value as HF's argparse does: `--bf16`, `--bf16 True`, `--bf16=false`; a repeated
// flag's last value wins, as with argparse.
#pragma once

#include "CLI/App.hpp"
#include "configs/training_arguments.h"

namespace zt::configs {

// Adds one option per registry entry to `app`, in an option group "Training arguments". Parsed
// values go through SetArgument(*args, ...) (so they are marked set); a bad value makes CLI11
// report a ValidationError naming the flag. `args` must outlive the parse.
void AddTrainingArgumentOptions(CLI::App& app, TrainingArguments* args);

}  // namespace zt::configs
