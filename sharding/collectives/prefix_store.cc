#include "sharding/collectives/prefix_store.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace zt::sharding {

PrefixStore::PrefixStore(std::shared_ptr<Store> base, std::string prefix)
    : base_(std::move(base)), prefix_(std::move(prefix)) {}

std::string PrefixStore::Scoped(absl::string_view key) const {
  return absl::StrCat(prefix_, "/", key);
}

std::vector<std::string> PrefixStore::Scoped(absl::Span<const std::string> keys) const {
  std::vector<std::string> scoped;
  scoped.reserve(keys.size());
  for (const std::string& key : keys) scoped.push_back(Scoped(key));
  return scoped;
}

absl::Status PrefixStore::Set(absl::string_view key, absl::string_view value) {
  return base_->Set(Scoped(key), value);
}

absl::StatusOr<std::string> PrefixStore::Get(absl::string_view key, absl::Time deadline) {
  return base_->Get(Scoped(key), deadline);
}

absl::Status PrefixStore::Wait(absl::Span<const std::string> keys, absl::Time deadline) {
  return base_->Wait(Scoped(keys), deadline);
}

absl::StatusOr<int64_t> PrefixStore::Add(absl::string_view key, int64_t delta) {
  return base_->Add(Scoped(key), delta);
}

absl::StatusOr<bool> PrefixStore::Delete(absl::string_view key) { return base_->Delete(Scoped(key)); }

absl::StatusOr<bool> PrefixStore::Check(absl::Span<const std::string> keys) {
  return base_->Check(Scoped(keys));
}

absl::StatusOr<std::string> JobScopePrefix(absl::string_view job_id, int64_t generation) {
  if (job_id.empty() || absl::StrContains(job_id, '/')) {
    return absl::InvalidArgumentError(
        absl::StrCat("job id '", job_id, "' must be non-empty and must not contain '/'"));
  }
  if (generation < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("restart generation ", generation, " must be >= 0"));
  }
  return absl::StrCat("zt/", job_id, "/gen", generation);
}

absl::StatusOr<std::unique_ptr<PrefixStore>> JobStore(std::shared_ptr<Store> base,
                                                      absl::string_view job_id, int64_t generation) {
  ZT_ASSIGN_OR_RETURN(std::string prefix, JobScopePrefix(job_id, generation));
  return std::make_unique<PrefixStore>(std::move(base), std::move(prefix));
}

}  // namespace zt::sharding
