#include "coordinator/job_event_log.h"

#include <algorithm>

#include "coordinator/watch_reactor.h"

namespace zt::coordinator {

void JobEventLog::Publish(const std::vector<proto::JobEvent>& events) {
  absl::MutexLock lock(&mu_);
  for (const proto::JobEvent& event : events) {
    history_.push_back(event);
    for (WatchReactor* watcher : watchers_) {
      watcher->Push(event, event.kind() == proto::JobEvent::SUCCEEDED);
    }
  }
}

void JobEventLog::Add(WatchReactor* watcher, bool finish) {
  absl::MutexLock lock(&mu_);
  watchers_.push_back(watcher);
  for (const proto::JobEvent& event : history_) {
    if (event.generation() == watcher->generation()) {
      watcher->Push(event, event.kind() == proto::JobEvent::SUCCEEDED);
    }
  }
  if (finish) watcher->FinishNow(grpc::Status::OK);
}

void JobEventLog::Remove(WatchReactor* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher), watchers_.end());
}

void JobEventLog::FinishAll() {
  absl::MutexLock lock(&mu_);
  for (WatchReactor* watcher : watchers_) watcher->FinishNow(grpc::Status::OK);
}

}  // namespace zt::coordinator
