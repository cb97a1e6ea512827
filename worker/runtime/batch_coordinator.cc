#include "worker/runtime/batch_coordinator.h"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "launch/slurm_hostlist.h"

namespace zt::worker {
namespace {

std::string Get(const launch::EnvironmentReader& getenv, const char* name) {
  const char* value = getenv(name);
  return value == nullptr ? "" : value;
}

// FNV-1a: stable across processes and builds (absl::Hash is seeded per process).
uint64_t StableHash(const std::string& text) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

absl::StatusOr<absl::Duration> EnvDuration(const launch::EnvironmentReader& getenv, const char* name,
                                           absl::Duration unit, absl::Duration fallback) {
  const std::string text = Get(getenv, name);
  if (text.empty()) return fallback;
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("environment variable ", name, "='", text, "' is not a positive integer"));
  }
  return value * unit;
}

// The launcher's job key: the same string on every rank of one job step, different across
// jobs; "" when the launcher exports none.
std::string JobKey(const launch::EnvironmentReader& getenv, const std::string& source) {
  if (source == "slurm") {
    const std::string job = Get(getenv, "SLURM_JOB_ID");
    if (job.empty()) return "";
    return absl::StrCat("slurm-", job, ".", Get(getenv, "SLURM_STEP_ID"));
  }
  for (const char* name : {"OMPI_MCA_ess_base_jobid", "PMIX_NAMESPACE"}) {
    const std::string value = Get(getenv, name);
    if (!value.empty()) return absl::StrCat("mpi-", value);
  }
  return "";
}

}  // namespace

std::string BatchCoordinator::address() const {
  const bool ipv6 = master_addr.find(':') != std::string::npos;
  return ipv6 ? absl::StrCat("[", master_addr, "]:", master_port)
              : absl::StrCat(master_addr, ":", master_port);
}

int PortForJob(const std::string& job_key) {
  return 20000 + static_cast<int>(StableHash(job_key) % 40000);
}

absl::StatusOr<BatchCoordinator> DiscoverBatchCoordinator(const launch::EnvironmentReader& getenv,
                                                          const AddressBroadcast& broadcast_master_addr) {
  ZT_ASSIGN_OR_RETURN(launch::RankEnvironment rank, launch::ReadRankEnvironment(getenv));
  if (rank.source == "torchrun") {
    return absl::NotFoundError(
        "RANK/WORLD_SIZE are set but ZEROTUNE_COORDINATOR is not; ranks of `zerotune launch` get "
        "both, ranks of srun/mpirun are found through SLURM_PROCID / OMPI_COMM_WORLD_RANK");
  }
  BatchCoordinator batch;
  batch.rank = rank;
  batch.host_coordinator = rank.rank == 0;
  const bool slurm = rank.source == "slurm";
  const std::string job_key = JobKey(getenv, rank.source);
  batch.job_id = job_key.empty() ? "zt-batch" : job_key;

  batch.host = Get(getenv, "SLURMD_NODENAME");
  if (batch.host.empty()) {
    char name[256] = {};
    gethostname(name, sizeof(name) - 1);
    batch.host = name;
  }
  if (slurm) {
    for (const char* name : {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"}) {
      const std::string list = Get(getenv, name);
      if (list.empty()) continue;
      ZT_ASSIGN_OR_RETURN(batch.node_order, launch::ExpandHostlist(list));
      break;
    }
  }

  batch.master_addr = Get(getenv, "MASTER_ADDR");
  if (batch.master_addr.empty() && slurm) {
    if (batch.node_order.empty()) {
      return absl::FailedPreconditionError(
          "under srun neither MASTER_ADDR nor SLURM_STEP_NODELIST/SLURM_JOB_NODELIST is set; "
          "expected Slurm's node list or an exported MASTER_ADDR");
    }
    batch.master_addr = batch.node_order.front();
  }
  if (batch.master_addr.empty()) {
    if (!broadcast_master_addr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "rank ", rank.rank, " of ", rank.world_size, " (", rank.source,
          "): MASTER_ADDR is not set and this build has no MPI to broadcast rank 0's address; "
          "expected `mpirun -x MASTER_ADDR=<rank 0's host address> ...` or ZEROTUNE_COORDINATOR"));
    }
    ZT_ASSIGN_OR_RETURN(batch.master_addr, broadcast_master_addr(rank.rank));
  }

  const std::string port_text = Get(getenv, "MASTER_PORT");
  if (!port_text.empty()) {
    if (!absl::SimpleAtoi(port_text, &batch.master_port) || batch.master_port < 1 ||
        batch.master_port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable MASTER_PORT='", port_text, "' is not a port (1-65535)"));
    }
  } else if (!job_key.empty()) {
    batch.master_port = PortForJob(job_key);
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        "MASTER_PORT is not set and the launcher (", rank.source,
        ") exports no job id to derive one from; expected an exported MASTER_PORT"));
  }

  batch.token = Get(getenv, "ZEROTUNE_TOKEN");
  if (batch.token.empty()) {
    char hex[17] = {};
    std::snprintf(hex, sizeof hex, "%016" PRIx64, StableHash(absl::StrCat("zerotune-token/", batch.job_id)));
    batch.token = absl::StrCat("derived-", hex);
  }
  ZT_ASSIGN_OR_RETURN(batch.heartbeat_interval,
                      EnvDuration(getenv, "ZEROTUNE_HEARTBEAT_INTERVAL_MS", absl::Milliseconds(1),
                                  batch.heartbeat_interval));
  ZT_ASSIGN_OR_RETURN(batch.heartbeat_timeout,
                      EnvDuration(getenv, "ZEROTUNE_HEARTBEAT_TIMEOUT_MS", absl::Milliseconds(1),
                                  batch.heartbeat_timeout));
  ZT_ASSIGN_OR_RETURN(batch.rendezvous_timeout,
                      EnvDuration(getenv, "ZEROTUNE_RENDEZVOUS_TIMEOUT_S", absl::Seconds(1),
                                  batch.rendezvous_timeout));
  return batch;
}

}  // namespace zt::worker
