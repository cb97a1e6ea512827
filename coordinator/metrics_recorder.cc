#include "coordinator/metrics_recorder.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace zt::coordinator {

MetricsRecorder::MetricsRecorder(std::string output_dir, Clock* clock)
    : output_dir_(std::move(output_dir)), clock_(clock) {}

void MetricsRecorder::Record(const proto::MetricsRequest& request) {
  latest_ = request;
  if (output_dir_.empty()) return;
  if (writer_ == nullptr) {
    absl::StatusOr<std::unique_ptr<MetricsWriter>> writer = MetricsWriter::Open(output_dir_);
    if (!writer.ok()) {
      log::Error(absl::StrCat("[coordinator] metrics: ", writer.status().ToString()));
      return;
    }
    writer_ = std::move(*writer);
  }
  MetricsRecord record;
  record.step = request.step();
  record.max_steps = request.max_steps();
  record.epoch = request.epoch();
  record.time = clock_->Now();
  record.values.insert(request.values().begin(), request.values().end());
  if (absl::Status status = writer_->Append(record); !status.ok()) {
    log::Error(absl::StrCat("[coordinator] metrics: ", status.ToString()));
  }
}

}  // namespace zt::coordinator
