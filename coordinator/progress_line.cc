#include "coordinator/progress_line.h"

#include <cmath>
#include <cstdio>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace zt::coordinator {

std::string FormatProgress(const proto::GetStatusReply& status) {
  std::string line = status.max_steps() > 0
                         ? absl::StrCat("step ", status.step(), "/", status.max_steps())
                         : absl::StrCat("step ", status.step());
  const auto& metrics = status.latest_metrics();
  if (auto it = metrics.find("loss"); it != metrics.end()) {
    absl::StrAppend(&line, absl::StrFormat(" | loss %.4f", it->second));
  }
  if (auto it = metrics.find("learning_rate"); it != metrics.end()) {
    absl::StrAppend(&line, absl::StrFormat(" | lr %.2e", it->second));
  }
  if (auto it = metrics.find("tokens_per_second"); it != metrics.end()) {
    absl::StrAppend(&line, absl::StrFormat(" | %.0f tok/s", it->second));
  }
  if (status.max_steps() > 0 && status.step() > 0 && status.elapsed_seconds() > 0) {
    const double per_step = status.elapsed_seconds() / status.step();
    const int64_t eta = std::llround(per_step * std::max<int64_t>(0, status.max_steps() - status.step()));
    absl::StrAppend(&line, absl::StrFormat(" | ETA %02d:%02d:%02d", eta / 3600, eta / 60 % 60, eta % 60));
  }
  absl::StrAppend(&line, " | ", status.state());
  if (status.restart_count() > 0) {
    absl::StrAppend(&line, " (restart ", status.restart_count(), "/", status.max_restarts(), ")");
  }
  return line;
}

void ProgressLine::Update(const proto::GetStatusReply& status, absl::Time now) {
  if (status.step() == last_step_ || now - last_print_ < min_interval_) return;
  last_step_ = status.step();
  last_print_ = now;
  if (is_terminal_) {
    out_ << "\r" << FormatProgress(status) << "\x1b[K" << std::flush;
    drawn_ = true;
  } else {
    out_ << FormatProgress(status) << "\n" << std::flush;
  }
}

void ProgressLine::Finish() {
  if (drawn_) out_ << "\n" << std::flush;
  drawn_ = false;
}

}  // namespace zt::coordinator
