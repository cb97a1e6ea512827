#include "sharding/collectives/comm_watchdog.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace zt::sharding {

CommWatchdog::CommWatchdog(std::string name, absl::Duration interval, Hooks hooks)
    : name_(std::move(name)), interval_(interval), hooks_(std::move(hooks)) {
  thread_ = std::thread([this] { Run(); });
}

CommWatchdog::~CommWatchdog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void CommWatchdog::Track(std::string description, absl::Time deadline, std::function<bool()> done) {
  absl::MutexLock lock(&mu_);
  tracked_.push_back({std::move(description), deadline, std::move(done)});
}

bool CommWatchdog::fired() const {
  absl::MutexLock lock(&mu_);
  return fired_;
}

absl::Status CommWatchdog::CheckOnce() {
  if (hooks_.poll) {
    absl::Status status = hooks_.poll();
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat(name_, ": asynchronous error: ", status.message()));
    }
  }
  std::vector<Tracked> tracked;
  {
    absl::MutexLock lock(&mu_);
    tracked.swap(tracked_);
  }
  // `done` runs without the lock: it may call into the backend.
  const absl::Time now = absl::Now();
  std::vector<Tracked> pending;
  absl::Status overdue;
  for (Tracked& op : tracked) {
    if (op.done()) continue;
    if (now >= op.deadline && overdue.ok()) {
      overdue = absl::DeadlineExceededError(absl::StrCat(
          name_, ": ", op.description, " still running ", absl::FormatDuration(now - op.deadline),
          " past its deadline (a peer has not joined it, or hangs)"));
    }
    pending.push_back(std::move(op));
  }
  absl::MutexLock lock(&mu_);
  for (Tracked& op : pending) tracked_.push_back(std::move(op));
  return overdue;
}

void CommWatchdog::Run() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_)) return;
      if (fired_) continue;
    }
    absl::Status reason = CheckOnce();
    if (reason.ok()) continue;
    {
      absl::MutexLock lock(&mu_);
      fired_ = true;
      tracked_.clear();
    }
    if (hooks_.abort) hooks_.abort(std::move(reason));
  }
}

}  // namespace zt::sharding
