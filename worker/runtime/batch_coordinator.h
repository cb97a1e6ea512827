// Where a rank started by a batch launcher (srun, mpirun) finds its coordinator when nobody
// exported ZEROTUNE_COORDINATOR: the coordinator runs inside rank 0's process, and every rank
// derives the same address, port, token and job id from what its launcher exported.
//
//   identity   launch::ReadRankEnvironment (SLURM_PROCID/LOCALID/NTASKS/NODEID,
//              OMPI_COMM_WORLD_*, PMIX_RANK/PMI_RANK; disagreeing sources are an error)
//   address    MASTER_ADDR; else under Slurm the first host of SLURM_STEP_NODELIST (else
//              SLURM_JOB_NODELIST); else, under mpirun, rank 0's routable address broadcast by
//              `broadcast_master_addr` (an MPI build); else FailedPrecondition naming
//              `-x MASTER_ADDR`
//   port       MASTER_PORT; else PortForJob() of SLURM_JOB_ID/SLURM_STEP_ID, or of Open MPI's
//              job id (OMPI_MCA_ess_base_jobid, PMIX_NAMESPACE): two jobs on a node differ
//   token      ZEROTUNE_TOKEN; else one derived from the job id (names the job, does not
//              authenticate: export a random ZEROTUNE_TOKEN as the templates do)
//   host       SLURMD_NODENAME, else this machine's host name; under Slurm the ranks' node
//              order is the expanded node list, so the coordinator's node-major ranks equal
//              SLURM_PROCID under block distribution (checked after the rendezvous)
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "launch/rank_environment.h"

namespace zt::worker {

struct BatchCoordinator {
  launch::RankEnvironment rank;
  std::string master_addr;
  int master_port = 0;
  std::string token;
  std::string job_id;
  std::string host;                     // this node's name, as it registers
  std::vector<std::string> node_order;  // Slurm's expanded node list; empty under mpirun
  bool host_coordinator = false;        // rank 0 serves the coordinator in its process
  // Job options rank 0 serves with (ZEROTUNE_HEARTBEAT_INTERVAL_MS,
  // ZEROTUNE_HEARTBEAT_TIMEOUT_MS, ZEROTUNE_RENDEZVOUS_TIMEOUT_S).
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration heartbeat_timeout = absl::Seconds(10);
  absl::Duration rendezvous_timeout = absl::Minutes(10);

  // "addr:port", IPv6 literals in brackets.
  std::string address() const;
};

// A port in [20000, 60000) from a launcher's job id (and step), the same on every rank.
int PortForJob(const std::string& job_key);

// Rank 0 passes its own routable address and gets it back; other ranks get rank 0's.
using AddressBroadcast = std::function<absl::StatusOr<std::string>(int rank)>;

// NotFound when no batch launcher variables are set (or only torchrun's: those ranks come
// from `zerotune launch`, which exports ZEROTUNE_COORDINATOR). `broadcast_master_addr` may
// be null (no MPI in this build).
absl::StatusOr<BatchCoordinator> DiscoverBatchCoordinator(const launch::EnvironmentReader& getenv,
                                                          const AddressBroadcast& broadcast_master_addr);

}  // namespace zt::worker
