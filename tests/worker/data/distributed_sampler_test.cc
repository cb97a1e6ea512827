// The distributed sampler's properties on their own (worker/data/distributed_sampler.h): a
// seeded permutation per epoch, disjoint equal shards, padding by wrapping, reproducibility by
// (seed, epoch). Its order is zerotune's own, not torch's randperm (docs/training.md, "Sample
// order"), so the first permutations are pinned: checkpoints resume through them.
#include "worker/data/distributed_sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <vector>

namespace zt::worker::data {
namespace {

std::vector<int64_t> Iota(int64_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

std::vector<int64_t> Sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

DistributedSampler Sampler(int64_t n, int world, int rank, uint64_t seed, bool drop_last = false) {
  absl::StatusOr<DistributedSampler> s = DistributedSampler::Create(
      {.num_samples = n, .world_size = world, .rank = rank, .seed = seed, .drop_last = drop_last});
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

TEST(SamplerPropertiesTest, OneRankSeesAPermutationPerEpochReproducibleBySeedAndEpoch) {
  for (int64_t n : {1, 2, 7, 64}) {
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      const std::vector<int64_t> order = Sampler(n, 1, 0, 42).EpochIndices(epoch);
      EXPECT_EQ(Sorted(order), Iota(n)) << "n " << n << " epoch " << epoch;
      EXPECT_EQ(order, Sampler(n, 1, 0, 42).EpochIndices(epoch)) << "a new sampler, the same order";
      // Epoch e is the permutation of seed + e (so seed s, epoch 1 == seed s + 1, epoch 0).
      EXPECT_EQ(order, SeededPermutation(n, 42 + epoch));
    }
  }
  const DistributedSampler s = Sampler(64, 1, 0, 42);
  EXPECT_NE(s.EpochIndices(0), s.EpochIndices(1));
  EXPECT_EQ(Sampler(64, 1, 0, 43).EpochIndices(0), s.EpochIndices(1));
  EXPECT_NE(Sampler(64, 1, 0, 7).EpochIndices(0), s.EpochIndices(0));
  EXPECT_EQ(Sampler(5, 1, 0, 0, /*drop_last=*/false).EpochIndices(0).size(), 5u);
}

TEST(SamplerPropertiesTest, PinnedPermutations) {
  // splitmix64 Fisher-Yates: fixed across machines and standard libraries. A change here breaks
  // resuming checkpoints written before it.
  EXPECT_EQ(SeededPermutation(8, 42), (std::vector<int64_t>{3, 1, 6, 2, 4, 0, 7, 5}));
  EXPECT_EQ(SeededPermutation(8, 43), (std::vector<int64_t>{4, 7, 2, 6, 1, 3, 5, 0}));
}

TEST(SamplerPropertiesTest, ShardsAreDisjointEqualAndInterleaveThePaddedPermutation) {
  struct Case {
    int64_t n;
    int world;
  };
  for (const Case c : {Case{8, 2}, Case{9, 2}, Case{7, 4}, Case{3, 4}, Case{1, 2}, Case{64, 4}}) {
    const std::vector<int64_t> order = SeededPermutation(c.n, 11 + 2);
    const int64_t per_rank = (c.n + c.world - 1) / c.world;
    // The permutation padded by wrapping to a multiple of the world size.
    std::vector<int64_t> padded = order;
    for (int64_t i = c.n; i < per_rank * c.world; ++i) padded.push_back(order[(i - c.n) % c.n]);
    std::vector<int64_t> all;
    for (int rank = 0; rank < c.world; ++rank) {
      const DistributedSampler s = Sampler(c.n, c.world, rank, 11);
      const std::vector<int64_t> mine = s.EpochIndices(2);
      ASSERT_EQ(static_cast<int64_t>(mine.size()), per_rank) << c.n << "/" << c.world;
      EXPECT_EQ(s.num_samples_per_rank(), per_rank);
      for (int64_t j = 0; j < per_rank; ++j) {
        EXPECT_EQ(mine[j], padded[j * c.world + rank]) << c.n << "/" << c.world << " rank " << rank;
      }
      all.insert(all.end(), mine.begin(), mine.end());
    }
    // Every sample once, plus the wrapped ones (the first of the permutation) once more.
    EXPECT_EQ(Sorted(all), Sorted(padded)) << c.n << "/" << c.world;
    if (c.n % c.world == 0) EXPECT_EQ(Sorted(all), Iota(c.n)) << "no padding: disjoint";
  }
}

TEST(SamplerPropertiesTest, DropLastCutsTheTailInsteadOfWrapping) {
  std::vector<int64_t> all;
  for (int rank = 0; rank < 2; ++rank) {
    const std::vector<int64_t> mine = Sampler(9, 2, rank, 5, /*drop_last=*/true).EpochIndices(0);
    EXPECT_EQ(mine.size(), 4u);
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::vector<int64_t> first8 = SeededPermutation(9, 5);
  first8.resize(8);
  EXPECT_EQ(Sorted(all), Sorted(first8));
}

TEST(SamplerPropertiesTest, BadOptionsNameTheValue) {
  EXPECT_EQ(
      DistributedSampler::Create({.num_samples = 4, .world_size = 2, .rank = 2}).status().message(),
      "sampler: rank 2 is outside world size 2");
  EXPECT_EQ(DistributedSampler::Create({.num_samples = 0}).status().message(),
            "sampler: the dataset has no samples");
}

}  // namespace
}  // namespace zt::worker::data
