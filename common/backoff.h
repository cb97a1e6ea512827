// Exponential backoff for polling loops (file store, rendezvous, reconnects). Deterministic:
// no jitter, so tests can assert the schedule. Not thread-safe; one per loop.
#pragma once

#include "absl/time/time.h"

namespace zt::common {

class Backoff {
 public:
  struct Options {
    absl::Duration initial = absl::Milliseconds(1);
    absl::Duration max = absl::Milliseconds(100);
    double multiplier = 2.0;
  };

  Backoff() : Backoff(Options{}) {}
  explicit Backoff(Options options);

  // The delay to wait before the next attempt; grows by `multiplier` up to `max`.
  absl::Duration Next();

  // Sleeps for Next(), cut short at `deadline`. Returns false when `deadline` had already
  // passed (the caller should report DeadlineExceeded), true otherwise.
  bool SleepBefore(absl::Time deadline);

  void Reset();

 private:
  Options options_;
  absl::Duration current_;
};

}  // namespace zt::common
