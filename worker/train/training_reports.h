// The training reports rank 0 writes besides the coordinator's metrics files: TensorBoard event
// files under output_dir/runs/ with --report_to tensorboard (or all), and output_dir/loss_curve.svg
// redrawn from the log history after each record. Torch-free. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/train/tensorboard_writer.h"

namespace zt::worker::train {

class TrainingReports {
 public:
  // Writes nothing when `writes` is false (ranks other than 0). `report_to` is --report_to,
  // `title` the plot's.
  TrainingReports(bool writes, std::string output_dir, std::string report_to, std::string title);

  // Creates the TensorBoard run folder (output_dir/runs/<HF's run name>) where asked. Returns
  // the event file's path, or "" when there is none.
  absl::StatusOr<std::string> Open();
  // One logging or evaluation record at `step` (HF's names: loss, learning_rate, eval_loss, ...
  // become TensorBoard's train/loss, eval/loss, ...), then the plot from `log_history` (HF's
  // trainer_state.json entries).
  absl::Status Record(int64_t step, double epoch, const std::map<std::string, double>& values,
                      const nlohmann::json& log_history);

 private:
  bool writes_;
  std::string output_dir_;
  std::string report_to_;
  std::string title_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

}  // namespace zt::worker::train
