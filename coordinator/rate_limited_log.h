// Log lines that an outside caller can provoke (rejected RPCs: wrong token, stale
// generation, a full store) at most once per `period` per kind, so a flood of bad requests
// cannot flood the log: the first line of a kind is written at once, later ones within the
// period are counted, and the next line written for that kind (or the destructor) says how
// many were suppressed. Thread-safe; `out` and `clock` must outlive it.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/clock.h"

namespace zt::coordinator {

class RateLimitedLog {
 public:
  RateLimitedLog(std::ostream* out, Clock* clock, absl::Duration period = absl::Seconds(1));
  ~RateLimitedLog();  // writes the counts still pending

  // Writes `line` (no newline) unless a line of `kind` was written less than a period ago.
  // Returns whether it was written.
  bool Log(absl::string_view kind, absl::string_view line);

 private:
  struct KindState {
    absl::Time last_written = absl::InfinitePast();
    int64_t suppressed = 0;
  };

  std::ostream* out_;
  Clock* clock_;
  absl::Duration period_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, KindState> kinds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zt::coordinator
