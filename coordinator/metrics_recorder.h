// Rank 0's metrics as the coordinator keeps them: the latest report (what GetStatus shows) and
// every report appended to output_dir's metrics files (metrics_writer.h), opened at the first
// one. A file error is logged and the run goes on: metrics never fail a job. Not thread-safe
// (the service's mutex guards it); `clock` must outlive it.
#pragma once

#include <memory>
#include <string>

#include "coordinator/clock.h"
#include "coordinator/metrics_writer.h"
#include "proto/zerotune.pb.h"

namespace zt::coordinator {

class MetricsRecorder {
 public:
  // `output_dir` empty: the latest report only, no files.
  MetricsRecorder(std::string output_dir, Clock* clock);

  void Record(const proto::MetricsRequest& request);
  const proto::MetricsRequest& latest() const { return latest_; }

 private:
  std::string output_dir_;
  Clock* clock_;
  std::unique_ptr<MetricsWriter> writer_;
  proto::MetricsRequest latest_;
};

}  // namespace zt::coordinator
