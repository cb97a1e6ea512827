// A rank's identity from the environment its launcher set: zerotune/torchrun (RANK,
// LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK), srun (SLURM_PROCID, SLURM_LOCALID,
// SLURM_NTASKS, SLURM_NODEID, SLURM_TASKS_PER_NODE), Open MPI's mpirun
// (OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK/LOCAL_SIZE) and PMIx/PMI (PMIX_RANK, PMI_RANK, PMI_SIZE).
// Every source present must agree (as DeepSpeed's launcher_helper checks); the first complete
// one, in that order, is used.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace zt::launch {

// Variables zerotune's launchers set beside torchrun's (RANK, WORLD_SIZE, ...): how a rank
// reaches its coordinator.
inline constexpr char kEnvCoordinator[] = "ZEROTUNE_COORDINATOR";  // host:port
inline constexpr char kEnvToken[] = "ZEROTUNE_TOKEN";
inline constexpr char kEnvTlsCa[] = "ZEROTUNE_TLS_CA";              // PEM file; TLS when set
inline constexpr char kEnvHost[] = "ZEROTUNE_HOST";                  // node name override

struct RankEnvironment {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  int node_rank = 0;
  std::string source;  // "torchrun", "slurm", "openmpi", "pmix", "pmi"

  bool operator==(const RankEnvironment& other) const {
    return rank == other.rank && world_size == other.world_size && local_rank == other.local_rank &&
           local_world_size == other.local_world_size && node_rank == other.node_rank;
  }
};

// Reads one variable (nullptr when unset); injectable for tests.
using EnvironmentReader = std::function<const char*(const char* name)>;

// NotFound when no launcher variables are set (a plain single-process start);
// InvalidArgument naming the variable for a malformed or out-of-range value;
// FailedPrecondition naming both variables and values when two sources disagree.
absl::StatusOr<RankEnvironment> ReadRankEnvironment(const EnvironmentReader& getenv);

// The process environment.
absl::StatusOr<RankEnvironment> ReadRankEnvironment();

}  // namespace zt::launch
