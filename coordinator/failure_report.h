// torchrun's error-file contract: a failing rank writes
//   {"message": {"message": "...", "extraInfo": {"py_callstack": "...", "timestamp": "<unix s>"}}}
// to $TORCHELASTIC_ERROR_FILE; the launcher reports the failure with the smallest timestamp as
// the root cause. Whole seconds cannot order failures a few milliseconds apart, so the files
// written here also carry extraInfo "timestamp_us" (unix microseconds; torchrun's readers
// ignore it). Torch-free helpers shared by the worker runtime and the coordinator.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/job_state.h"

namespace zt::coordinator {

// The JSON text of an error file for `message` at `when`, with `callstack` as py_callstack.
std::string MakeErrorFileJson(const std::string& message, const std::string& callstack,
                              absl::Time when);

// Writes it atomically (temporary file + rename). InvalidArgument naming the path on failure.
absl::Status WriteErrorFile(const std::string& path, const std::string& json);

struct ErrorFileContent {
  std::string message;
  std::optional<absl::Time> timestamp;
  // False for a whole-second stamp (torchrun's): the failure happened within the second
  // after `timestamp`.
  bool precise = false;
};
// Parses an error file's JSON; InvalidArgument when it is not torchrun's shape.
absl::StatusOr<ErrorFileContent> ParseErrorFileJson(const std::string& json);

// The latest time the failure described by `content` can have happened, given that it was
// observed at `observed`: a precise stamp as is, a whole-second one at most a second later.
absl::Time LatestFailureTime(const ErrorFileContent& content, absl::Time observed);

// The "Root Cause (first observed failure)" block: time, host, rank, exit code or signal, what
// the coordinator saw, the rank's message (once) and the path of its error file.
std::string FormatFailureReport(const std::string& job_id, const RankFailure& root_cause,
                                int failures_in_generation);

// "exitcode 3" or "Signal 9 (SIGKILL)".
std::string DescribeExit(std::optional<int> exit_code, std::optional<int> signal);

}  // namespace zt::coordinator
