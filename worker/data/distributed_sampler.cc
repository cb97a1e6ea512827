#include "worker/data/distributed_sampler.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace zt::worker::data {
namespace {

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Uniform in [0, bound) without modulo bias (Lemire's rejection on 64-bit draws).
uint64_t Below(uint64_t bound, uint64_t& state) {
  const uint64_t limit = ~uint64_t{0} - (~uint64_t{0} % bound);
  uint64_t x;
  do {
    x = SplitMix64(state);
  } while (x >= limit);
  return x % bound;
}

}  // namespace

std::vector<int64_t> SeededPermutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  uint64_t state = seed;
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[Below(static_cast<uint64_t>(i) + 1, state)]);
  return order;
}

absl::StatusOr<DistributedSampler> DistributedSampler::Create(Options options) {
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("sampler: rank ", options.rank, " is outside world size ",
                                                   options.world_size));
  }
  if (options.num_samples <= 0) return absl::InvalidArgumentError("sampler: the dataset has no samples");
  if (options.batch_size < 1) return absl::InvalidArgumentError(absl::StrCat("sampler: batch size ", options.batch_size));
  if (!options.lengths.empty() && static_cast<int64_t>(options.lengths.size()) != options.num_samples) {
    return absl::InvalidArgumentError(absl::StrCat("sampler: ", options.lengths.size(), " lengths for ",
                                                   options.num_samples, " samples"));
  }
  if (options.drop_last && options.num_samples < options.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("sampler: drop_last with ", options.num_samples,
                                                   " samples leaves nothing for ", options.world_size, " ranks"));
  }
  return DistributedSampler(std::move(options));
}

int64_t DistributedSampler::num_samples_per_rank() const {
  const int64_t n = options_.num_samples, w = options_.world_size;
  return options_.drop_last ? n / w : (n + w - 1) / w;
}

std::vector<int64_t> DistributedSampler::EpochIndices(int64_t epoch) const {
  const int64_t n = options_.num_samples;
  std::vector<int64_t> order;
  if (options_.shuffle) {
    order = SeededPermutation(n, options_.seed + static_cast<uint64_t>(epoch));
  } else {
    order.resize(n);
    std::iota(order.begin(), order.end(), 0);
  }
  if (!options_.lengths.empty()) {
    const int64_t mega = options_.world_size * options_.batch_size * 50;
    for (int64_t begin = 0; begin < n; begin += mega) {
      auto first = order.begin() + begin, last = order.begin() + std::min(n, begin + mega);
      std::stable_sort(first, last, [&](int64_t a, int64_t b) { return options_.lengths[a] > options_.lengths[b]; });
    }
  }
  const int64_t total = num_samples_per_rank() * options_.world_size;
  if (total <= n) {
    order.resize(total);
  } else {
    for (int64_t i = n; i < total; ++i) order.push_back(order[(i - n) % n]);
  }
  std::vector<int64_t> mine;
  mine.reserve(num_samples_per_rank());
  for (int64_t i = options_.rank; i < total; i += options_.world_size) mine.push_back(order[i]);
  return mine;
}

std::vector<int64_t> DistributedSampler::ResumeIndices(int64_t epoch, int64_t steps_done) const {
  std::vector<int64_t> all = EpochIndices(epoch);
  const int64_t skip = std::min<int64_t>(static_cast<int64_t>(all.size()), steps_done * options_.batch_size);
  return std::vector<int64_t>(all.begin() + skip, all.end());
}

}  // namespace zt::worker::data
