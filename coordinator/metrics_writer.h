// The coordinator's metrics files in output_dir — it is their only writer:
//   metrics.jsonl       one JSON object per report: {"step", "epoch", "time", <values>}
//   metrics.csv         the same rows; columns fixed by the first report (step, epoch, time,
//                       then its value names sorted), later unknown names only in the JSONL
//   trainer_state.json  HF Trainer's shape: global_step, max_steps, epoch, log_history
// Not thread-safe (the service calls it under its lock). Files are appended as reports come,
// trainer_state.json is replaced atomically on each report.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

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

  std::string output_dir_;
  std::vector<std::string> csv_columns_;
  std::string log_history_;  // JSON array body, comma-separated entries
};

}  // namespace zt::coordinator
