#include "sharding/zero/zero_engine_readiness.h"

#include <c10/util/Exception.h>

#include <algorithm>

namespace zt::sharding {

std::unique_ptr<ZeroEngineReadiness> ZeroEngineReadiness::Create(
    ZeroEngine* engine, const std::vector<std::vector<std::string>>& units) {
  std::vector<int> buckets;
  for (const std::vector<std::string>& names : units) {
    int last = -1;
    for (const std::string& name : names) {
      absl::StatusOr<int> bucket = engine->UpdateBucketOf(name);
      if (bucket.ok()) last = std::max(last, *bucket);
    }
    buckets.push_back(last);
  }
  return std::unique_ptr<ZeroEngineReadiness>(new ZeroEngineReadiness(engine, std::move(buckets)));
}

int ZeroEngineReadiness::BucketOf(int unit) const {
  return unit >= 0 && unit < static_cast<int>(unit_buckets_.size()) ? unit_buckets_[unit] : -1;
}

void ZeroEngineReadiness::WaitForUnit(int unit) {
  const int bucket = BucketOf(unit);
  if (bucket < 0) return;
  const absl::Status status = engine_->WaitForParameters(bucket);
  TORCH_CHECK(status.ok(), "the optimizer step updating unit ", unit, "'s parameters failed: ",
              status.ToString());
}

}  // namespace zt::sharding
