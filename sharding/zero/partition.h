// How the trainable parameters of one parameter group are laid out in a flat buffer, cut into
// gradient buckets, and partitioned across data-parallel ranks. Pure arithmetic, no tensors.
//
// Layout. Parameters are given in forward order and placed in reverse (the order backward
// produces their gradients). Consecutive parameters are packed into buckets of at most
// `bucket_numel` elements (a parameter larger than that gets a bucket of its own). Each bucket's
// region is padded with zeros to a multiple of `world_size * alignment_numel`, and every rank
// owns one equal chunk of every bucket: rank r owns
//   [bucket.flat_offset + r * bucket.chunk_numel, ... + bucket.chunk_numel).
// So one bucket's gradients are exactly the input of one reduce-scatter (chunk r goes to rank r)
// and its updated parameters exactly the output of one all-gather. A rank's partition is the
// concatenation of its chunks, bucket after bucket (partition_offset). With a single bucket
// (LoRA adapters under DeepSpeed's default reduce_bucket_size of 5e8) this is DeepSpeed's layout:
// one padded flat buffer, rank r owning [r * ps, (r + 1) * ps). With several buckets it is the
// bucket-interleaved variant that lets stage 2 reduce-scatter (instead of DeepSpeed's all-reduce
// of whole buckets) while backward still runs: same sums, half the traffic.
//
// Units: every size and offset here counts elements, never bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace zt::sharding {

struct FlatLayoutOptions {
  int world_size = 1;
  // Largest bucket before padding (zero_optimization.reduce_bucket_size).
  int64_t bucket_numel = 500000000;
  // Every chunk is a multiple of this many elements (DeepSpeed's nccl_start_alignment_factor = 2
  // keeps 16-bit chunks 4-byte aligned).
  int64_t alignment_numel = 2;
};

// Where parameter i (forward order) lives.
struct ParamSlot {
  int64_t numel = 0;
  int bucket = 0;
  int64_t flat_offset = 0;    // in the flat buffer
  int64_t bucket_offset = 0;  // inside its bucket's region
};

struct Bucket {
  int64_t flat_offset = 0;       // start of the region in the flat buffer
  int64_t numel = 0;             // padded region size: world_size * chunk_numel
  int64_t used_numel = 0;        // sum of its parameters' numels (numel - padding)
  int64_t chunk_numel = 0;       // what each rank owns of it
  int64_t partition_offset = 0;  // where its chunk starts inside every rank's partition
  std::vector<int> params;       // parameter indices (forward order numbering), in layout order
};

// A piece of one parameter inside a rank's partition.
struct ParamPiece {
  int param = 0;
  int64_t param_offset = 0;      // first element, inside the parameter (flattened)
  int64_t partition_offset = 0;  // where it lands inside the rank's partition
  int64_t numel = 0;
};

class FlatLayout {
 public:
  // `numels` in forward order. InvalidArgument for world_size < 1, bucket_numel < 1,
  // alignment_numel < 1, an empty list or a parameter with numel < 1 (naming its index).
  static absl::StatusOr<FlatLayout> Create(const std::vector<int64_t>& numels,
                                           const FlatLayoutOptions& options);

  int world_size() const { return world_size_; }
  int num_params() const { return static_cast<int>(slots_.size()); }
  // Padded size of the flat buffer (sum of bucket numels).
  int64_t flat_numel() const { return flat_numel_; }
  // Sum of the parameters' numels.
  int64_t param_numel() const { return param_numel_; }
  // Every rank's partition size (sum of chunk numels); flat_numel() / world_size().
  int64_t partition_numel() const { return flat_numel_ / world_size_; }
  int64_t largest_bucket_numel() const { return largest_bucket_numel_; }

  const ParamSlot& slot(int param) const { return slots_[param]; }
  const std::vector<Bucket>& buckets() const { return buckets_; }

  // Flat offset of rank r's chunk of bucket b.
  int64_t ChunkFlatOffset(int bucket, int rank) const;
  // The parameter pieces in rank r's partition, in partition order (padding is not a piece).
  std::vector<ParamPiece> PartitionPieces(int rank) const;
  // How many elements of rank r's partition are padding.
  int64_t PartitionPadding(int rank) const;

 private:
  int world_size_ = 1;
  int64_t flat_numel_ = 0;
  int64_t param_numel_ = 0;
  int64_t largest_bucket_numel_ = 0;
  std::vector<ParamSlot> slots_;
  std::vector<Bucket> buckets_;
};

}  // namespace zt::sharding
