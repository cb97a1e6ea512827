#include "sharding/collectives/gloo_store_adapter.h"

#include <gloo/common/error.h>

#include <algorithm>

#include "absl/time/clock.h"

namespace zt::sharding {

GlooStoreAdapter::GlooStoreAdapter(std::shared_ptr<zt::sharding::Store> store, absl::Time deadline)
    : store_(std::move(store)), deadline_(deadline) {}

void GlooStoreAdapter::Fail(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (first_error_.ok()) first_error_ = status;
  }
  throw gloo::IoException(status.ToString());
}

absl::Status GlooStoreAdapter::first_error() const {
  absl::MutexLock lock(&mu_);
  return first_error_;
}

void GlooStoreAdapter::set(const std::string& key, const std::vector<char>& data) {
  absl::Status status = store_->Set(key, absl::string_view(data.data(), data.size()));
  if (!status.ok()) Fail(std::move(status));
}

std::vector<char> GlooStoreAdapter::get(const std::string& key) {
  absl::StatusOr<std::string> value = store_->Get(key, deadline_);
  if (!value.ok()) Fail(value.status());
  return std::vector<char>(value->begin(), value->end());
}

void GlooStoreAdapter::wait(const std::vector<std::string>& keys) {
  absl::Status status = store_->Wait(keys, deadline_);
  if (!status.ok()) Fail(std::move(status));
}

void GlooStoreAdapter::wait(const std::vector<std::string>& keys,
                            const std::chrono::milliseconds& timeout) {
  const absl::Time deadline = std::min(deadline_, absl::Now() + absl::FromChrono(timeout));
  absl::Status status = store_->Wait(keys, deadline);
  if (!status.ok()) Fail(std::move(status));
}

}  // namespace zt::sharding
