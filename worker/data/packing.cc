#include "worker/data/packing.h"

#include "absl/strings/str_cat.h"

namespace zt::worker::data {

absl::StatusOr<std::vector<PackedRow>> PackSamples(const std::vector<TokenizedSample>& samples,
                                                   int64_t row_length, int32_t pad_id) {
  if (row_length <= 0) return absl::InvalidArgumentError(absl::StrCat("packing row length ", row_length, ": expected > 0"));
  std::vector<PackedRow> rows;
  std::vector<int64_t> used;  // tokens used per row
  for (size_t i = 0; i < samples.size(); ++i) {
    const int64_t n = static_cast<int64_t>(samples[i].input_ids.size());
    if (n > row_length) {
      return absl::InvalidArgumentError(absl::StrCat("sample ", i, " has ", n, " tokens, more than the packing row length ",
                                                     row_length, " (set --model_max_length to at most the row length)"));
    }
    if (n == 0) continue;
    size_t r = 0;
    while (r < rows.size() && used[r] + n > row_length) ++r;
    if (r == rows.size()) {
      rows.emplace_back();
      used.push_back(0);
    }
    PackedRow& row = rows[r];
    const int32_t segment = static_cast<int32_t>(row.sample_indices.size()) + 1;
    row.input_ids.insert(row.input_ids.end(), samples[i].input_ids.begin(), samples[i].input_ids.end());
    row.labels.insert(row.labels.end(), samples[i].labels.begin(), samples[i].labels.end());
    for (int64_t p = 0; p < n; ++p) {
      row.position_ids.push_back(static_cast<int32_t>(p));
      row.segment_ids.push_back(segment);
    }
    row.sample_indices.push_back(static_cast<int64_t>(i));
    used[r] += n;
  }
  for (PackedRow& row : rows) {
    row.input_ids.resize(row_length, pad_id);
    row.labels.resize(row_length, kIgnoreIndex);
    row.position_ids.resize(row_length, 0);
    row.segment_ids.resize(row_length, 0);
  }
  return rows;
}

std::vector<uint8_t> BlockDiagonalCausalMask(const PackedRow& row) {
  const size_t length = row.segment_ids.size();
  std::vector<uint8_t> mask(length * length, 0);
  for (size_t q = 0; q < length; ++q) {
    if (row.segment_ids[q] == 0) continue;
    for (size_t k = 0; k <= q; ++k) mask[q * length + k] = row.segment_ids[k] == row.segment_ids[q];
  }
  return mask;
}

}  // namespace zt::worker::data
