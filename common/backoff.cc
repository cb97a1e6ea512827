#include "common/backoff.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace zt::common {

Backoff::Backoff(Options options) : options_(options), current_(options.initial) {}

absl::Duration Backoff::Next() {
  absl::Duration delay = current_;
  current_ = std::min(current_ * options_.multiplier, options_.max);
  return delay;
}

bool Backoff::SleepBefore(absl::Time deadline) {
  absl::Time now = absl::Now();
  if (now >= deadline) return false;
  absl::SleepFor(std::min(Next(), deadline - now));
  return true;
}

void Backoff::Reset() { current_ = options_.initial; }

}  // namespace zt::common
