#include "coordinator/kv_table.h"

#include "absl/strings/str_cat.h"
#include "sharding/collectives/store.h"

namespace zt::coordinator {

KvTable::KvTable(DeadlineScheduler* scheduler, std::string name, KvLimits limits)
    : scheduler_(scheduler), name_(std::move(name)), limits_(std::move(limits)) {}

KvTable::~KvTable() { FailAllWaits(absl::UnavailableError("the coordinator is shutting down")); }

absl::Status KvTable::CheckFits(const std::string& key, size_t value_bytes) const {
  const int64_t value = static_cast<int64_t>(value_bytes);
  if (value > limits_.max_value_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a value of ", value, " bytes for key '", key, "' exceeds ", name_, "'s cap of ",
        limits_.max_value_bytes, " bytes per value (", limits_.value_flag, ")"));
  }
  auto it = values_.find(key);
  const int64_t before =
      it == values_.end() ? 0 : static_cast<int64_t>(key.size() + it->second.size());
  const int64_t after = total_bytes_ - before + static_cast<int64_t>(key.size()) + value;
  if (after > limits_.max_total_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("storing ", value, " bytes under key '", key, "' would take ", name_, " to ",
                     after, " bytes, over its cap of ", limits_.max_total_bytes,
                     " bytes in total (", limits_.total_flag, "); delete keys no longer needed"));
  }
  return absl::OkStatus();
}

void KvTable::Store(const std::string& key, std::string value) {
  auto [it, inserted] = values_.try_emplace(key);
  total_bytes_ += static_cast<int64_t>(value.size()) - static_cast<int64_t>(it->second.size());
  if (inserted) total_bytes_ += static_cast<int64_t>(key.size());
  it->second = std::move(value);
}

absl::Status KvTable::Set(const std::string& key, std::string value) {
  std::vector<Done> ready;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status status = CheckFits(key, value.size()); !status.ok()) return status;
    Store(key, std::move(value));
    OnKeyWritten(key, &ready);
  }
  for (Done& done : ready) done(absl::OkStatus());
  return absl::OkStatus();
}

absl::StatusOr<int64_t> KvTable::Add(const std::string& key, int64_t delta) {
  std::vector<Done> ready;
  int64_t result = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = values_.find(key);
    int64_t current = 0;
    if (it != values_.end()) {
      absl::StatusOr<int64_t> parsed = sharding::ParseCounter(key, it->second);
      if (!parsed.ok()) return parsed.status();
      current = *parsed;
    }
    result = current + delta;
    std::string text = absl::StrCat(result);
    if (absl::Status status = CheckFits(key, text.size()); !status.ok()) return status;
    Store(key, std::move(text));
    OnKeyWritten(key, &ready);
  }
  for (Done& done : ready) done(absl::OkStatus());
  return result;
}

bool KvTable::Delete(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = values_.find(key);
  if (it == values_.end()) return false;
  total_bytes_ -= static_cast<int64_t>(key.size() + it->second.size());
  values_.erase(it);
  return true;
}

bool KvTable::Check(const std::vector<std::string>& keys) const {
  absl::MutexLock lock(&mu_);
  for (const std::string& key : keys) {
    if (!values_.contains(key)) return false;
  }
  return true;
}

absl::StatusOr<std::string> KvTable::Read(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = values_.find(key);
  if (it == values_.end()) return absl::NotFoundError(absl::StrCat("no key '", key, "'"));
  return it->second;
}

size_t KvTable::size() const {
  absl::MutexLock lock(&mu_);
  return values_.size();
}

int64_t KvTable::total_bytes() const {
  absl::MutexLock lock(&mu_);
  return total_bytes_;
}

void KvTable::WaitAsync(std::vector<std::string> keys, absl::Time deadline, Done done) {
  uint64_t id = 0;
  {
    absl::MutexLock lock(&mu_);
    Waiter waiter;
    for (const std::string& key : keys) {
      if (!values_.contains(key)) waiter.missing.insert(key);
    }
    if (!waiter.missing.empty()) {
      id = next_waiter_++;
      for (const std::string& key : waiter.missing) by_key_[key].insert(id);
      waiter.keys = std::move(keys);
      waiter.done = std::move(done);
      waiters_.emplace(id, std::move(waiter));
    }
  }
  if (id == 0) {
    done(absl::OkStatus());
    return;
  }
  // Scheduled outside mu_: the timer may fire at once, and OnDeadline takes mu_.
  const DeadlineScheduler::Id timer = scheduler_->Schedule(deadline, [this, id] { OnDeadline(id); });
  absl::MutexLock lock(&mu_);
  auto it = waiters_.find(id);
  if (it != waiters_.end()) {
    it->second.timer = timer;
  } else {
    scheduler_->Cancel(timer);  // completed between the two locks
  }
}

void KvTable::OnKeyWritten(const std::string& key, std::vector<Done>* ready) {
  auto index = by_key_.find(key);
  if (index == by_key_.end()) return;
  for (uint64_t id : index->second) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) continue;
    it->second.missing.erase(key);
    if (!it->second.missing.empty()) continue;
    if (it->second.timer != 0) scheduler_->Cancel(it->second.timer);
    ready->push_back(std::move(it->second.done));
    waiters_.erase(it);
  }
  by_key_.erase(index);
}

void KvTable::OnDeadline(uint64_t waiter_id) {
  Done done;
  std::vector<std::string> missing;
  {
    absl::MutexLock lock(&mu_);
    auto it = waiters_.find(waiter_id);
    if (it == waiters_.end()) return;
    for (const std::string& key : it->second.keys) {
      if (it->second.missing.contains(key)) missing.push_back(key);
      auto index = by_key_.find(key);
      if (index != by_key_.end()) index->second.erase(waiter_id);
    }
    done = std::move(it->second.done);
    waiters_.erase(it);
  }
  done(sharding::StoreDeadlineError(name_, missing));
}

void KvTable::FailAllWaits(const absl::Status& status) {
  std::vector<Done> failed;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, waiter] : waiters_) {
      if (waiter.timer != 0) scheduler_->Cancel(waiter.timer);
      failed.push_back(std::move(waiter.done));
    }
    waiters_.clear();
    by_key_.clear();
  }
  for (Done& done : failed) done(status);
}

}  // namespace zt::coordinator
