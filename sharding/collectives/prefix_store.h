// Scoping for a shared Store: every key goes through `<prefix>/`. JobStore() builds the one
// scope zerotune uses, job id and restart generation, so a restarted rank can never read an
// id published by an earlier generation (torch's PrefixStore plays the same role).
#pragma once

#include <memory>
#include <string>

#include "sharding/collectives/store.h"

namespace zt::sharding {

class PrefixStore final : public Store {
 public:
  // `prefix` must be non-empty; keys become "<prefix>/<key>".
  PrefixStore(std::shared_ptr<Store> base, std::string prefix);

  absl::Status Set(absl::string_view key, absl::string_view value) override;
  absl::StatusOr<std::string> Get(absl::string_view key, absl::Time deadline) override;
  absl::Status Wait(absl::Span<const std::string> keys, absl::Time deadline) override;
  absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta) override;
  absl::StatusOr<bool> Delete(absl::string_view key) override;
  absl::StatusOr<bool> Check(absl::Span<const std::string> keys) override;

  const std::string& prefix() const { return prefix_; }

 private:
  std::string Scoped(absl::string_view key) const;
  std::vector<std::string> Scoped(absl::Span<const std::string> keys) const;

  std::shared_ptr<Store> base_;
  std::string prefix_;
};

// "zt/<job_id>/gen<generation>". InvalidArgument when job_id is empty or holds '/', or
// generation is negative.
absl::StatusOr<std::string> JobScopePrefix(absl::string_view job_id, int64_t generation);

// `base` scoped to one job and restart generation.
absl::StatusOr<std::unique_ptr<PrefixStore>> JobStore(std::shared_ptr<Store> base,
                                                      absl::string_view job_id, int64_t generation);

}  // namespace zt::sharding
