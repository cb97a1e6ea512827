// The one progress line of a job: "step 120/1000 | loss 1.234 | lr 3.0e-04 | 5,321 tok/s |
// ETA 00:12:34 | running". On a terminal it is redrawn in place (\r); otherwise one line is
// printed when the step changed, at most every `min_interval`. Not thread-safe.
#pragma once

#include <iosfwd>
#include <string>

#include "absl/time/time.h"
#include "proto/zerotune.pb.h"

namespace zt::coordinator {

// The line for a status snapshot (no newline).
std::string FormatProgress(const proto::GetStatusReply& status);

class ProgressLine {
 public:
  ProgressLine(std::ostream& out, bool is_terminal, absl::Duration min_interval = absl::Seconds(2))
      : out_(out), is_terminal_(is_terminal), min_interval_(min_interval) {}
  void Update(const proto::GetStatusReply& status, absl::Time now);
  // Ends a line drawn in place.
  void Finish();

 private:
  std::ostream& out_;
  bool is_terminal_;
  absl::Duration min_interval_;
  int64_t last_step_ = -1;
  absl::Time last_print_ = absl::InfinitePast();
  bool drawn_ = false;
};

}  // namespace zt::coordinator
