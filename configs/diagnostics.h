// The errors and warnings found while checking one config, each tied to the JSON path (DeepSpeed
// key names joined by '.', e.g. "zero_optimization.offload_optimizer.device") or the flag it is
// about. Checks collect every problem instead of stopping at the first, so a user fixes a config
// in one round. Not thread-safe; one instance per check.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace zt::configs {

struct ConfigIssue {
  std::string path;     // JSON path or "--flag"; "" for the document as a whole
  std::string message;  // what is wrong and what was expected, without the path
  // "path: message", or the message alone when path is empty.
  std::string ToString() const;
};

class Diagnostics {
 public:
  void Error(absl::string_view path, absl::string_view message);
  void Warning(absl::string_view path, absl::string_view message);

  bool has_errors() const { return !errors_.empty(); }
  const std::vector<ConfigIssue>& errors() const { return errors_; }
  const std::vector<ConfigIssue>& warnings() const { return warnings_; }

  // OK when there are no errors; otherwise InvalidArgument whose message is `source` followed
  // by one "  <path>: <message>" line per error.
  absl::Status ToStatus(absl::string_view source) const;

 private:
  std::vector<ConfigIssue> errors_;
  std::vector<ConfigIssue> warnings_;
};

// " (did you mean \"x\"?)" for the candidate closest to `name` by edit distance (at most a
// third of the name's length, minimum 2; a case-insensitive match always qualifies and a
// prefix relation of 4+ characters covering at least half the longer string counts as one
// edit), else "".
std::string DidYouMean(absl::string_view name, absl::Span<const std::string> candidates);

}  // namespace zt::configs
