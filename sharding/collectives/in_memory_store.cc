#include "sharding/collectives/in_memory_store.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace zt::sharding {

bool InMemoryStore::HasAll(absl::Span<const std::string> keys) const {
  for (const std::string& key : keys) {
    if (!values_.contains(key)) return false;
  }
  return true;
}

absl::Status InMemoryStore::Set(absl::string_view key, absl::string_view value) {
  absl::MutexLock lock(&mu_);
  values_[key] = std::string(value);
  return absl::OkStatus();
}

absl::StatusOr<std::string> InMemoryStore::Get(absl::string_view key, absl::Time deadline) {
  std::string owned(key);
  absl::MutexLock lock(&mu_);
  auto present = [this, &owned]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return values_.contains(owned);
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&present), deadline)) {
    return StoreDeadlineError("the in-memory store", {owned});
  }
  return values_.at(owned);
}

absl::Status InMemoryStore::Wait(absl::Span<const std::string> keys, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto present = [this, keys]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return HasAll(keys); };
  if (!mu_.AwaitWithDeadline(absl::Condition(&present), deadline)) {
    std::vector<std::string> missing;
    for (const std::string& key : keys) {
      if (!values_.contains(key)) missing.push_back(key);
    }
    return StoreDeadlineError("the in-memory store", missing);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> InMemoryStore::Add(absl::string_view key, int64_t delta) {
  absl::MutexLock lock(&mu_);
  int64_t counter = 0;
  auto it = values_.find(key);
  if (it != values_.end()) {
    ZT_ASSIGN_OR_RETURN(counter, ParseCounter(key, it->second));
  }
  counter += delta;
  values_[key] = absl::StrCat(counter);
  return counter;
}

absl::StatusOr<bool> InMemoryStore::Delete(absl::string_view key) {
  absl::MutexLock lock(&mu_);
  return values_.erase(key) > 0;
}

absl::StatusOr<bool> InMemoryStore::Check(absl::Span<const std::string> keys) {
  absl::MutexLock lock(&mu_);
  return HasAll(keys);
}

}  // namespace zt::sharding
