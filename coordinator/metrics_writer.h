// The coordinator's metrics files in output_dir — it is their only writer:
//   metrics.jsonl       one JSON object per report: {"step", "epoch", "time", <values>}
//   metrics.csv         the same rows; columns fixed by the first report (step, epoch, time,
//                       then its value names sorted), later unknown names only in the JSONL
//   trainer_state.json  HF Trainer's shape: global_step, max_steps, epoch, log_history
// Not thread-safe (the service calls it under its lock). Files are appended as reports come,
// trainer_state.json is replaced atomically on each report. A job restarted from a checkpoint
// replays the steps after it: the first report of a step already recorded (a step below the
// last one, or the last one again with a value it already has) cuts all three files back to the
// steps before it, as the HF Trainer's resumed log_history is the checkpoint's, so no step is
// listed twice.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace zt::coordinator {

struct MetricsRecord {
  int64_t step = 0;
  int64_t max_steps = 0;
  double epoch = 0;
  absl::Time time;
  std::map<std::string, double> values;
};

class MetricsWriter {
 public:
  // Creates output_dir if needed; appends to existing metrics files (a resumed job continues
  // them) and keeps trainer_state.json's log_history. InvalidArgument naming the path.
  static absl::StatusOr<std::unique_ptr<MetricsWriter>> Open(const std::string& output_dir);

  absl::Status Append(const MetricsRecord& record);

 private:
  explicit MetricsWriter(std::string output_dir) : output_dir_(std::move(output_dir)) {}
  absl::Status WriteTrainerState(const MetricsRecord& record);
  // Whether `record` repeats a step already recorded (a replay after a restart).
  bool Replays(const MetricsRecord& record) const;
  // Drops every row and log_history entry of `step` and later, rewriting the files atomically.
  absl::Status CutBackTo(int64_t step);
  void NoteRecorded(int64_t step, const std::vector<std::string>& names);

  std::string output_dir_;
  std::vector<std::string> csv_columns_;
  nlohmann::json log_history_ = nlohmann::json::array();
  int64_t last_step_ = -1;
  std::set<std::string> last_step_names_;  // the value names recorded at last_step_
};

}  // namespace zt::coordinator
