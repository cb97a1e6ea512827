// Packing samples into fixed-length rows: samples are placed in order, each in the first row
// with room (first fit), never split; a sample longer than the row is an error (truncate with
// model_max_length first). Each row carries per-sample position ids (restarting at 0) and a
// segment id per position; the attention mask is block-diagonal over segments and causal inside
// each (BlockDiagonalCausalMask), so packed samples never attend to each other.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/sample_builder.h"

namespace zt::worker::data {

struct PackedRow {
  std::vector<int32_t> input_ids;     // row_length, padded with pad_id
  std::vector<int32_t> labels;        // kIgnoreIndex on padding
  std::vector<int32_t> position_ids;  // 0.. per sample; 0 on padding
  std::vector<int32_t> segment_ids;   // 1.. per sample in the row; 0 on padding
  std::vector<int64_t> sample_indices;  // which input samples the row holds, in order
};

absl::StatusOr<std::vector<PackedRow>> PackSamples(const std::vector<TokenizedSample>& samples,
                                                   int64_t row_length, int32_t pad_id);

// mask[q * L + k] = 1 when position q may attend to position k: same non-zero segment, k <= q.
std::vector<uint8_t> BlockDiagonalCausalMask(const PackedRow& row);

}  // namespace zt::worker::data
