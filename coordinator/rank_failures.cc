#include "coordinator/rank_failures.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "coordinator/failure_report.h"

namespace zt::coordinator {

RankFailure FailureFromProcessExit(const launch::ProcessExit& exit, int rank, bool registered) {
  RankFailure failure;
  failure.rank = rank >= 0 ? rank : exit.launch_rank;
  failure.host = exit.host;
  failure.pid = exit.pid;
  failure.time = exit.time;
  failure.exit_code = exit.exit_code;
  failure.signal = exit.signal;
  failure.error_json = exit.error_json;
  failure.error_file = exit.error_file;
  failure.observed_exit = true;
  failure.reason = absl::StrCat("process exited with ", DescribeExit(exit.exit_code, exit.signal),
                                registered ? "" : " before registering");
  if (absl::StatusOr<ErrorFileContent> content = ParseErrorFileJson(exit.error_json); content.ok()) {
    failure.time = std::min(failure.time, LatestFailureTime(*content, exit.time));
  }
  return failure;
}

RankFailure FailureFromReport(int rank, int64_t pid, absl::Time observed,
                              const std::string& error_json) {
  RankFailure failure;
  failure.rank = rank;
  failure.pid = pid;
  failure.time = observed;
  failure.error_json = error_json;
  failure.reason = "reported an error";
  if (absl::StatusOr<ErrorFileContent> content = ParseErrorFileJson(error_json); content.ok()) {
    failure.time = LatestFailureTime(*content, failure.time);
  }
  return failure;
}

}  // namespace zt::coordinator
