// `zerotune`: the user-facing CLI. Each subcommand registers itself with one Add...Command(app)
// call below; the commands live beside it in coordinator/. Torch-free, starts in milliseconds.
#include "CLI/CLI.hpp"
#include "coordinator/estimate_command.h"
#include "coordinator/job_control_command.h"
#include "coordinator/launch_command.h"
#include "coordinator/serve_command.h"
#include "coordinator/validate_config_command.h"

int main(int argc, char** argv) {
  CLI::App app{"zerotune: LoRA/QLoRA/full fine-tuning of Qwen-family models with ZeRO"};
  app.require_subcommand(1);
  zt::coordinator::AddValidateConfigCommand(app);
  zt::coordinator::AddEstimateCommand(app);
  zt::coordinator::AddLaunchCommand(app);
  zt::coordinator::AddServeCommand(app);
  zt::coordinator::AddStatusCommand(app);
  zt::coordinator::AddStopCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Error& e) {
    return app.exit(e);
  }
  return 0;
}
