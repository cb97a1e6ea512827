#include "coordinator/grpc_store.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/coordinator_client.h"

namespace zt::coordinator {

GrpcStore::GrpcStore(std::shared_ptr<CoordinatorClient> client)
    : client_(std::move(client)),
      name_(absl::StrCat("the coordinator store at ", client_->options().address)) {}

absl::Status GrpcStore::CheckKey(absl::string_view key) const {
  if (key.empty()) return absl::InvalidArgumentError("store keys must be non-empty");
  return absl::OkStatus();
}

// A transport-level deadline (the server never answered) still names the keys.
absl::Status GrpcStore::OnWaitError(const absl::Status& status,
                                    absl::Span<const std::string> keys) const {
  if (status.code() == absl::StatusCode::kDeadlineExceeded &&
      status.message().find("timed out waiting for key") == absl::string_view::npos) {
    return sharding::StoreDeadlineError(name_, keys);
  }
  return status;
}

absl::Status GrpcStore::Set(absl::string_view key, absl::string_view value) {
  if (absl::Status status = CheckKey(key); !status.ok()) return status;
  return client_->Set(std::string(key), std::string(value));
}

absl::StatusOr<std::string> GrpcStore::Get(absl::string_view key, absl::Time deadline) {
  if (absl::Status status = CheckKey(key); !status.ok()) return status;
  absl::StatusOr<std::string> value = client_->Get(std::string(key), deadline);
  if (!value.ok()) return OnWaitError(value.status(), {std::string(key)});
  return value;
}

absl::Status GrpcStore::Wait(absl::Span<const std::string> keys, absl::Time deadline) {
  for (const std::string& key : keys) {
    if (absl::Status status = CheckKey(key); !status.ok()) return status;
  }
  absl::Status status = client_->Wait(std::vector<std::string>(keys.begin(), keys.end()), deadline);
  return status.ok() ? status : OnWaitError(status, keys);
}

absl::StatusOr<int64_t> GrpcStore::Add(absl::string_view key, int64_t delta) {
  if (absl::Status status = CheckKey(key); !status.ok()) return status;
  return client_->Add(std::string(key), delta);
}

absl::StatusOr<bool> GrpcStore::Delete(absl::string_view key) {
  if (absl::Status status = CheckKey(key); !status.ok()) return status;
  return client_->Delete(std::string(key));
}

absl::StatusOr<bool> GrpcStore::Check(absl::Span<const std::string> keys) {
  return client_->Check(std::vector<std::string>(keys.begin(), keys.end()));
}

}  // namespace zt::coordinator
