#include "coordinator/deadline_scheduler.h"

#include "absl/time/clock.h"

namespace zt::coordinator {

DeadlineScheduler::DeadlineScheduler() : thread_([this] { Loop(); }) {}

DeadlineScheduler::~DeadlineScheduler() { Stop(); }

void DeadlineScheduler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_.clear();
    when_.clear();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

DeadlineScheduler::Id DeadlineScheduler::Schedule(absl::Time when, std::function<void()> callback) {
  absl::MutexLock lock(&mu_);
  const Id id = next_id_++;
  if (stopping_) return id;
  queue_.emplace(std::make_pair(when, id), std::move(callback));
  when_.emplace(id, when);
  return id;
}

bool DeadlineScheduler::Cancel(Id id) {
  absl::MutexLock lock(&mu_);
  auto it = when_.find(id);
  if (it == when_.end()) return false;
  queue_.erase(std::make_pair(it->second, id));
  when_.erase(it);
  return true;
}

void DeadlineScheduler::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    // Wake on stop, on an earlier entry, or when the first entry is due.
    const absl::Time first = queue_.empty() ? absl::InfiniteFuture() : queue_.begin()->first.first;
    if (first > absl::Now()) {
      auto changed = [this, first]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || (!queue_.empty() && queue_.begin()->first.first < first);
      };
      mu_.AwaitWithDeadline(absl::Condition(&changed), first);
      continue;
    }
    auto node = queue_.extract(queue_.begin());
    when_.erase(node.key().second);
    mu_.Unlock();
    node.mapped()();
    mu_.Lock();
  }
}

}  // namespace zt::coordinator
