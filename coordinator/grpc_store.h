// The Store (sharding/collectives/store.h) backed by the coordinator's key-value service, so NCCL unique
// ids and Gloo addresses rendezvous through the coordinator. Keys are sent as given: wrap in
// sharding::JobStore(store, job_id, generation) to scope them by job and restart generation.
// Thread-safe; blocking calls (Get, Wait) wait on the server (callback API, no thread parked
// there) and end at their deadline with the Store contract's DeadlineExceeded message.
#pragma once

#include <memory>
#include <string>

#include "sharding/collectives/store.h"

namespace zt::coordinator {

class CoordinatorClient;

class GrpcStore final : public sharding::Store {
 public:
  explicit GrpcStore(std::shared_ptr<CoordinatorClient> client);

  absl::Status Set(absl::string_view key, absl::string_view value) override;
  absl::StatusOr<std::string> Get(absl::string_view key, absl::Time deadline) override;
  absl::Status Wait(absl::Span<const std::string> keys, absl::Time deadline) override;
  absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta) override;
  absl::StatusOr<bool> Delete(absl::string_view key) override;
  absl::StatusOr<bool> Check(absl::Span<const std::string> keys) override;

 private:
  absl::Status CheckKey(absl::string_view key) const;
  absl::Status OnWaitError(const absl::Status& status, absl::Span<const std::string> keys) const;

  std::shared_ptr<CoordinatorClient> client_;
  std::string name_;
};

}  // namespace zt::coordinator
