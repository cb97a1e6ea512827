// The job events the WatchJob streams carry (coordinator_service.h): every published event is
// kept, so a stream opened later first gets its generation's events replayed (e.g. a stop
// request made before it watched), and is pushed to every open stream; SUCCEEDED is a stream's
// last. Thread-safe.
#pragma once

#include <vector>

#include "absl/synchronization/mutex.h"
#include "proto/zerotune.pb.h"

namespace zt::coordinator {

class WatchReactor;

class JobEventLog {
 public:
  void Publish(const std::vector<proto::JobEvent>& events);
  // Replays the events of `watcher`'s generation and pushes it every later one until Remove;
  // `finish`: the job already ended, the stream ends after the replay.
  void Add(WatchReactor* watcher, bool finish);
  void Remove(WatchReactor* watcher);
  // Ends every open stream OK (service shutdown).
  void FinishAll();

 private:
  absl::Mutex mu_;
  std::vector<WatchReactor*> watchers_ ABSL_GUARDED_BY(mu_);
  std::vector<proto::JobEvent> history_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zt::coordinator
