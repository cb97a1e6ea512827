#include "coordinator/rate_limited_log.h"

namespace zt::coordinator {

RateLimitedLog::RateLimitedLog(std::ostream* out, Clock* clock, absl::Duration period)
    : out_(out), clock_(clock), period_(period) {}

RateLimitedLog::~RateLimitedLog() {
  absl::MutexLock lock(&mu_);
  for (const auto& [kind, state] : kinds_) {
    if (state.suppressed == 0) continue;
    *out_ << "[coordinator] " << state.suppressed << " more '" << kind << "' line(s) suppressed\n";
  }
  out_->flush();
}

bool RateLimitedLog::Log(absl::string_view kind, absl::string_view line) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  KindState& state = kinds_[kind];
  if (now - state.last_written < period_) {
    ++state.suppressed;
    return false;
  }
  *out_ << line;
  if (state.suppressed > 0) {
    *out_ << " (" << state.suppressed << " more like it suppressed since the last such line)";
  }
  *out_ << "\n";
  out_->flush();
  state.last_written = now;
  state.suppressed = 0;
  return true;
}

}  // namespace zt::coordinator
