// The order in which ranks see samples, as torch's DistributedSampler: every epoch a seeded
// permutation of all indices (the same on every rank: seed + epoch), padded by wrapping to a
// multiple of the world size (or cut, with drop_last), then rank r takes positions r, r + W,
// r + 2W, ... so shards are disjoint and equal in size. Optional length grouping (HF's
// group_by_length idea): the permutation is cut into mega-batches of world_size * batch_size *
// 50 indices, each sorted by length (longest first), so a step's samples have similar lengths.
// Resuming: the sequence depends only on (seed, epoch, world size, rank), so a run restarted at
// a step skips the first step * batch_size indices of its epoch and continues identically.
// Everything is deterministic across machines and standard libraries (own PRNG and shuffle).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace zt::worker::data {

// splitmix64-seeded Fisher-Yates permutation of 0..n-1.
std::vector<int64_t> SeededPermutation(int64_t n, uint64_t seed);

class DistributedSampler {
 public:
  struct Options {
    int64_t num_samples = 0;
    int world_size = 1;
    int rank = 0;
    uint64_t seed = 0;
    bool shuffle = true;
    bool drop_last = false;
    int64_t batch_size = 1;               // per rank; used by length grouping and resume
    std::vector<int64_t> lengths;         // per sample; non-empty enables length grouping
  };
  // InvalidArgument for rank outside [0, world_size), world_size < 1, lengths of the wrong size,
  // or no samples.
  static absl::StatusOr<DistributedSampler> Create(Options options);

  // This rank's indices for `epoch`, in order.
  std::vector<int64_t> EpochIndices(int64_t epoch) const;
  // The indices left in `epoch` after `steps_done` steps of batch_size (for resuming).
  std::vector<int64_t> ResumeIndices(int64_t epoch, int64_t steps_done) const;
  int64_t num_samples_per_rank() const;

 private:
  explicit DistributedSampler(Options options) : options_(std::move(options)) {}
  Options options_;
};

}  // namespace zt::worker::data
