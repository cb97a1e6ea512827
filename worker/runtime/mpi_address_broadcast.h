// Rank 0's routable address for ranks started by mpirun without MASTER_ADDR (as DeepSpeed's
// mpi_discovery broadcasts `hostname -I`): MPI_Init, MPI_Bcast from rank 0, MPI_Finalize.
// MPI is used for nothing else, so it is finalized at once.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace zt::worker {

// The first IPv4 address of an interface that is up and not loopback; 127.0.0.1 when there
// is none (a single machine).
std::string RoutableAddress();

// Rank 0 broadcasts RoutableAddress(); every rank returns it. Internal naming the MPI call
// that failed.
absl::StatusOr<std::string> BroadcastRankZeroAddress(int rank);

}  // namespace zt::worker
