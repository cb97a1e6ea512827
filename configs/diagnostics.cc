#include "configs/diagnostics.h"

#include <algorithm>
#include <cstddef>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace zt::configs {
namespace {

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string ConfigIssue::ToString() const {
  return path.empty() ? message : absl::StrCat(path, ": ", message);
}

void Diagnostics::Error(absl::string_view path, absl::string_view message) {
  errors_.push_back({std::string(path), std::string(message)});
}

void Diagnostics::Warning(absl::string_view path, absl::string_view message) {
  warnings_.push_back({std::string(path), std::string(message)});
}

absl::Status Diagnostics::ToStatus(absl::string_view source) const {
  if (errors_.empty()) return absl::OkStatus();
  std::string text = absl::StrCat(source, ": ", errors_.size(),
                                  errors_.size() == 1 ? " error" : " errors");
  for (const ConfigIssue& issue : errors_) absl::StrAppend(&text, "\n  ", issue.ToString());
  return absl::InvalidArgumentError(text);
}

std::string DidYouMean(absl::string_view name, absl::Span<const std::string> candidates) {
  const std::string lower = absl::AsciiStrToLower(name);
  const size_t limit = std::max<size_t>(2, name.size() / 3);
  const std::string* best = nullptr;
  std::pair<size_t, size_t> best_score = {limit + 1, 0};  // (ranking distance, edit distance)
  for (const std::string& candidate : candidates) {
    // A truncated or extended spelling ("reduce_bucket", "cycle_max_momentum") ranks as one
    // edit, so it wins over unrelated near-misses; ties go to the smaller true distance. Only
    // when the shorter covers at least half the longer: "stage" is no spelling of
    // "stage3_prefetch_bucket_szie".
    const size_t shorter = std::min(name.size(), candidate.size());
    const size_t longer = std::max(name.size(), candidate.size());
    const bool prefix = shorter >= 4 && 2 * shorter >= longer &&
                        (absl::StartsWith(candidate, name) || absl::StartsWith(name, candidate));
    const size_t edits = EditDistance(name, candidate);
    const size_t rank = absl::AsciiStrToLower(candidate) == lower ? 0
                        : prefix                                  ? std::min<size_t>(1, edits)
                                                                  : edits;
    if (std::make_pair(rank, edits) < best_score) {
      best_score = {rank, edits};
      best = &candidate;
    }
  }
  return best == nullptr ? "" : absl::StrCat(" (did you mean \"", *best, "\"?)");
}

}  // namespace zt::configs
