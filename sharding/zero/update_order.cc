#include "sharding/zero/update_order.h"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace zt::sharding {

UpdateOrder::UpdateOrder(const std::vector<const FlatLayout*>& layouts,
                         const std::vector<std::vector<int>>& forward_positions) {
  struct Keyed {
    int64_t key;
    Bucket bucket;
  };
  std::vector<Keyed> keyed;
  int64_t group_base = 0;
  for (int g = 0; g < static_cast<int>(layouts.size()); ++g) {
    const FlatLayout& layout = *layouts[g];
    const std::vector<int>& positions = forward_positions[g];
    for (int b = static_cast<int>(layout.buckets().size()) - 1; b >= 0; --b) {
      int64_t key = std::numeric_limits<int64_t>::max();
      for (int p : layout.buckets()[b].params) {
        key = std::min<int64_t>(key, positions.empty() ? group_base + p : positions[p]);
      }
      keyed.push_back({key, {g, b}});
    }
    group_base += layout.num_params();
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const Keyed& a, const Keyed& b) { return a.key < b.key; });
  index_.resize(layouts.size());
  for (int g = 0; g < static_cast<int>(layouts.size()); ++g) {
    index_[g].assign(layouts[g]->buckets().size(), 0);
  }
  for (const Keyed& k : keyed) {
    index_[k.bucket.group][k.bucket.bucket] = static_cast<int>(order_.size());
    order_.push_back(k.bucket);
  }
}

}  // namespace zt::sharding
