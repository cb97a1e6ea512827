// Runs callbacks at absolute times on one background thread: the deadlines of waiting RPCs
// (Get, Wait, Barrier, RegisterWorker) and the coordinator's periodic ticks. A callback runs
// at most once, outside the scheduler's lock; Cancel() returns whether it was still pending
// (false: it ran or is running). Thread-safe. The destructor drops pending callbacks and joins.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace zt::coordinator {

class DeadlineScheduler {
 public:
  DeadlineScheduler();
  ~DeadlineScheduler();
  DeadlineScheduler(const DeadlineScheduler&) = delete;
  DeadlineScheduler& operator=(const DeadlineScheduler&) = delete;

  using Id = uint64_t;
  Id Schedule(absl::Time when, std::function<void()> callback);
  bool Cancel(Id id);
  // Drops pending callbacks and joins the thread (waits for a running callback). Idempotent;
  // Schedule() afterwards is a no-op.
  void Stop();

 private:
  void Loop();

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Id next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::pair<absl::Time, Id>, std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Id, absl::Time> when_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace zt::coordinator
