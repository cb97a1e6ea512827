// zerotune-worker: the rank process and its tools. Each subcommand registers itself here with
// one Add...Command line; the commands live beside the code they drive.
#include <CLI/CLI.hpp>

#include "worker/data/preprocess_command.h"
#include "worker/data/render_chat_command.h"
#include "worker/data/tokenize_command.h"
#include "worker/model/generate_command.h"
#include "worker/model/init_model_command.h"
#include "worker/model/merge_command.h"
#include "worker/model/quantize_command.h"
#include "worker/model/score_command.h"
#include "worker/train/export_command.h"
#if ZT_WITH_SELFTEST
#include "worker/runtime/selftest_command.h"
#endif
#if ZT_WITH_TRAIN
#include "worker/train/train_command.h"
#endif

int main(int argc, char** argv) {
  CLI::App app{"zerotune-worker: train, tokenize, preprocess and export for zerotune"};
  app.require_subcommand(1);
  zt::worker::data::AddTokenizeCommand(app);
  zt::worker::data::AddRenderChatCommand(app);
  zt::worker::data::AddPreprocessCommand(app);
  zt::worker::model::AddScoreCommand(app);
  zt::worker::model::AddInitModelCommand(app);
  zt::worker::model::AddMergeCommand(app);
  zt::worker::model::AddQuantizeCommand(app);
  zt::worker::train::AddExportCommand(app);
  zt::worker::model::AddGenerateCommand(app);
#if ZT_WITH_SELFTEST
  zt::worker::AddSelftestCommand(app);
#endif
#if ZT_WITH_TRAIN
  zt::worker::train::AddTrainCommand(app);
#endif
  CLI11_PARSE(app, argc, argv);
  return 0;
}
