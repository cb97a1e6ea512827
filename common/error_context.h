// Where an error happened, for messages that must be actionable across many hosts and ranks:
// "host=node-3 rank=12 at sharding/collectives/nccl_communicator.cc:88".
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace zt::common {

// This machine's host name ("unknown-host" if it cannot be read).
std::string HostName();

// The rank of this process as its launcher published it: RANK (torchrun, zerotune),
// then OMPI_COMM_WORLD_RANK, PMIX_RANK, PMI_RANK, SLURM_PROCID; "?" when none is set.
std::string RankFromEnvironment();

// "host=H rank=R at FILE:LINE".
std::string ErrorContext(const char* file, int line);

// An error from a foreign library, formatted the same way for every library:
//   "<library> error in `<call>`: <library message> (host=H rank=R at FILE:LINE)".
absl::Status ForeignLibraryError(absl::StatusCode code, absl::string_view library,
                                 absl::string_view call, absl::string_view message,
                                 const char* file, int line);

}  // namespace zt::common
