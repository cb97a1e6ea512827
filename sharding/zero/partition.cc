#include "sharding/zero/partition.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace zt::sharding {
namespace {

int64_t RoundUp(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

absl::Status CheckOptions(const std::vector<int64_t>& numels, const FlatLayoutOptions& options) {
  if (options.world_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("flat layout: world_size is ", options.world_size, "; expected >= 1"));
  }
  if (options.bucket_numel < 1) {
    return absl::InvalidArgumentError(absl::StrCat("zero_optimization.reduce_bucket_size is ",
                                                   options.bucket_numel, "; expected >= 1"));
  }
  if (options.alignment_numel < 1) {
    return absl::InvalidArgumentError(absl::StrCat("flat layout: alignment_numel is ",
                                                   options.alignment_numel, "; expected >= 1"));
  }
  if (numels.empty()) {
    return absl::InvalidArgumentError("flat layout: no trainable parameters in the group");
  }
  for (size_t i = 0; i < numels.size(); ++i) {
    if (numels[i] < 1) {
      return absl::InvalidArgumentError(absl::StrCat("flat layout: parameter ", i, " has ",
                                                     numels[i], " elements; expected >= 1"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FlatLayout> FlatLayout::Create(const std::vector<int64_t>& numels,
                                              const FlatLayoutOptions& options) {
  absl::Status valid = CheckOptions(numels, options);
  if (!valid.ok()) return valid;

  FlatLayout layout;
  layout.world_size_ = options.world_size;
  layout.slots_.resize(numels.size());
  const int64_t granule = options.world_size * options.alignment_numel;

  Bucket current;
  auto close_bucket = [&]() {
    current.numel = RoundUp(current.used_numel, granule);
    current.chunk_numel = current.numel / options.world_size;
    current.flat_offset = layout.flat_numel_;
    current.partition_offset = layout.flat_numel_ / options.world_size;
    const int bucket_index = static_cast<int>(layout.buckets_.size());
    for (int param : current.params) {
      ParamSlot& slot = layout.slots_[param];
      slot.bucket = bucket_index;
      slot.flat_offset = current.flat_offset + slot.bucket_offset;
    }
    layout.flat_numel_ += current.numel;
    layout.largest_bucket_numel_ = std::max(layout.largest_bucket_numel_, current.numel);
    layout.buckets_.push_back(std::move(current));
    current = Bucket();
  };

  for (int i = static_cast<int>(numels.size()) - 1; i >= 0; --i) {
    if (!current.params.empty() && current.used_numel + numels[i] > options.bucket_numel) {
      close_bucket();
    }
    ParamSlot& slot = layout.slots_[i];
    slot.numel = numels[i];
    slot.bucket_offset = current.used_numel;
    current.params.push_back(i);
    current.used_numel += numels[i];
    layout.param_numel_ += numels[i];
  }
  close_bucket();
  return layout;
}

int64_t FlatLayout::ChunkFlatOffset(int bucket, int rank) const {
  const Bucket& b = buckets_[bucket];
  return b.flat_offset + rank * b.chunk_numel;
}

std::vector<ParamPiece> FlatLayout::PartitionPieces(int rank) const {
  std::vector<ParamPiece> pieces;
  for (int b = 0; b < static_cast<int>(buckets_.size()); ++b) {
    const Bucket& bucket = buckets_[b];
    const int64_t begin = rank * bucket.chunk_numel;  // inside the bucket's region
    const int64_t end = begin + bucket.chunk_numel;
    for (int param : bucket.params) {
      const ParamSlot& slot = slots_[param];
      const int64_t lo = std::max(begin, slot.bucket_offset);
      const int64_t hi = std::min(end, slot.bucket_offset + slot.numel);
      if (lo >= hi) continue;
      pieces.push_back(ParamPiece{param, lo - slot.bucket_offset,
                                  bucket.partition_offset + (lo - begin), hi - lo});
    }
  }
  return pieces;
}

int64_t FlatLayout::PartitionPadding(int rank) const {
  int64_t covered = 0;
  for (const ParamPiece& piece : PartitionPieces(rank)) covered += piece.numel;
  return partition_numel() - covered;
}

}  // namespace zt::sharding
