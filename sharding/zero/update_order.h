// The order ZeroEngine updates its buckets in after a step (zero_engine.h): forward order
// across all parameter groups, a bucket's place being its earliest parameter's forward
// position (ParameterGroup::forward_positions; without them a group's parameters follow those
// of the groups before it). Buckets are laid out backward within a group, so this also makes
// the first layers' all-gathers start first. Index u names the u-th bucket to update.
#pragma once

#include <vector>

#include "sharding/zero/partition.h"

namespace zt::sharding {

class UpdateOrder {
 public:
  struct Bucket {
    int group = 0;
    int bucket = 0;
  };

  UpdateOrder() = default;
  // `layouts[g]`: group g's flat layout; `forward_positions[g]`: one per parameter, or empty.
  UpdateOrder(const std::vector<const FlatLayout*>& layouts,
              const std::vector<std::vector<int>>& forward_positions);

  int size() const { return static_cast<int>(order_.size()); }
  const Bucket& operator[](int u) const { return order_[u]; }
  // The update index of group `group`'s bucket `bucket`.
  int IndexOf(int group, int bucket) const { return index_[group][bucket]; }

 private:
  std::vector<Bucket> order_;
  std::vector<std::vector<int>> index_;  // [group][bucket] -> update index
};

}  // namespace zt::sharding
