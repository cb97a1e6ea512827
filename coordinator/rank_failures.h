// How a rank's end becomes the failure the job records (job_state.h RankFailure): the launcher's
// report of a process exit, or the rank's own ReportExit(FAILED) with its error file. The
// failure's time is the error file's stamp where it has one (torchrun's root-cause rule orders
// failures by it), else when it was observed.
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "coordinator/job_state.h"
#include "launch/launched_job.h"

namespace zt::coordinator {

// `rank`: the registered rank of the process, -1 when none (the launch rank stands in);
// `registered`: whether it had registered (else "before registering" is said).
RankFailure FailureFromProcessExit(const launch::ProcessExit& exit, int rank, bool registered);

// A live rank's report of its own error at `observed`.
RankFailure FailureFromReport(int rank, int64_t pid, absl::Time observed,
                              const std::string& error_json);

}  // namespace zt::coordinator
