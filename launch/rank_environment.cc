#include "launch/rank_environment.h"

#include <cstdlib>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "launch/slurm_hostlist.h"

namespace zt::launch {
namespace {

// An integer variable: nullopt when unset, InvalidArgument when not a non-negative integer.
absl::StatusOr<std::optional<int>> ReadInt(const EnvironmentReader& getenv, const char* name) {
  const char* text = getenv(name);
  if (text == nullptr || text[0] == '\0') return std::optional<int>();
  int value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("environment variable ", name, "='", text, "' is not a non-negative integer"));
  }
  return std::optional<int>(value);
}

// One launcher's view; `rank_variable`/`world_variable` name its variables for messages.
struct Candidate {
  RankEnvironment env;
  const char* rank_variable;
  const char* world_variable;
};

absl::Status Validate(const Candidate& c) {
  const RankEnvironment& e = c.env;
  if (e.world_size < 1 || e.rank >= e.world_size) {
    return absl::InvalidArgumentError(absl::StrCat(c.rank_variable, "=", e.rank, " is not a rank of ",
                                                   c.world_variable, "=", e.world_size));
  }
  if (e.local_world_size < 1 || e.local_rank >= e.local_world_size || e.local_world_size > e.world_size) {
    return absl::InvalidArgumentError(absl::StrCat(c.env.source, ": local rank ", e.local_rank,
                                                   " of local world size ", e.local_world_size,
                                                   " does not fit world size ", e.world_size));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Candidate>> FromTorchrun(const EnvironmentReader& getenv) {
  ZT_ASSIGN_OR_RETURN(std::optional<int> rank, ReadInt(getenv, "RANK"));
  ZT_ASSIGN_OR_RETURN(std::optional<int> world, ReadInt(getenv, "WORLD_SIZE"));
  if (!rank || !world) return std::optional<Candidate>();
  ZT_ASSIGN_OR_RETURN(std::optional<int> local_rank, ReadInt(getenv, "LOCAL_RANK"));
  ZT_ASSIGN_OR_RETURN(std::optional<int> local_world, ReadInt(getenv, "LOCAL_WORLD_SIZE"));
  ZT_ASSIGN_OR_RETURN(std::optional<int> node, ReadInt(getenv, "GROUP_RANK"));
  RankEnvironment env{*rank, *world, local_rank.value_or(0), local_world.value_or(1), node.value_or(0), "torchrun"};
  return std::optional<Candidate>(Candidate{env, "RANK", "WORLD_SIZE"});
}

absl::StatusOr<std::optional<Candidate>> FromSlurm(const EnvironmentReader& getenv) {
  ZT_ASSIGN_OR_RETURN(std::optional<int> rank, ReadInt(getenv, "SLURM_PROCID"));
  ZT_ASSIGN_OR_RETURN(std::optional<int> world, ReadInt(getenv, "SLURM_NTASKS"));
  if (!world) {
    ZT_ASSIGN_OR_RETURN(world, ReadInt(getenv, "SLURM_NPROCS"));  // older Slurm's name
  }
  if (!rank || !world) return std::optional<Candidate>();
  ZT_ASSIGN_OR_RETURN(std::optional<int> local_rank, ReadInt(getenv, "SLURM_LOCALID"));
  ZT_ASSIGN_OR_RETURN(std::optional<int> node, ReadInt(getenv, "SLURM_NODEID"));
  int local_world = 1;
  if (const char* tasks = getenv("SLURM_TASKS_PER_NODE"); tasks != nullptr && node) {
    ZT_ASSIGN_OR_RETURN(std::vector<int> per_node, ExpandTasksPerNode(tasks));
    if (*node >= static_cast<int>(per_node.size())) {
      return absl::InvalidArgumentError(absl::StrCat("SLURM_NODEID=", *node, " but SLURM_TASKS_PER_NODE='",
                                                     tasks, "' lists ", per_node.size(), " node(s)"));
    }
    local_world = per_node[*node];
  }
  RankEnvironment env{*rank, *world, local_rank.value_or(0), local_world, node.value_or(0), "slurm"};
  return std::optional<Candidate>(Candidate{env, "SLURM_PROCID", "SLURM_NTASKS"});
}

absl::StatusOr<std::optional<Candidate>> FromOpenMpi(const EnvironmentReader& getenv) {
  ZT_ASSIGN_OR_RETURN(std::optional<int> rank, ReadInt(getenv, "OMPI_COMM_WORLD_RANK"));
  ZT_ASSIGN_OR_RETURN(std::optional<int> world, ReadInt(getenv, "OMPI_COMM_WORLD_SIZE"));
  if (!rank || !world) return std::optional<Candidate>();
  ZT_ASSIGN_OR_RETURN(std::optional<int> local_rank, ReadInt(getenv, "OMPI_COMM_WORLD_LOCAL_RANK"));
  ZT_ASSIGN_OR_RETURN(std::optional<int> local_world, ReadInt(getenv, "OMPI_COMM_WORLD_LOCAL_SIZE"));
  // Open MPI publishes no node index (OMPI_COMM_WORLD_NODE_RANK is a rank within the node);
  // under mpirun's default by-slot mapping with equal slots per node it is rank / local size.
  // The coordinator re-derives placement from host names either way.
  const int lws = local_world.value_or(1);
  RankEnvironment env{*rank, *world, local_rank.value_or(0), lws, *rank / lws, "openmpi"};
  return std::optional<Candidate>(Candidate{env, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"});
}

// PMIx/PMI give only the rank (and PMI_SIZE); they are checked against the others, never used
// alone for local placement.
absl::StatusOr<std::optional<int>> PmiRank(const EnvironmentReader& getenv, const char** variable) {
  for (const char* name : {"PMIX_RANK", "PMI_RANK"}) {
    ZT_ASSIGN_OR_RETURN(std::optional<int> rank, ReadInt(getenv, name));
    if (rank) {
      *variable = name;
      return rank;
    }
  }
  return std::optional<int>();
}

absl::Status CheckAgree(const Candidate& a, const Candidate& b) {
  if (a.env.rank != b.env.rank || a.env.world_size != b.env.world_size) {
    return absl::FailedPreconditionError(absl::StrCat(
        "launcher environments disagree: ", a.rank_variable, "=", a.env.rank, " ", a.world_variable, "=",
        a.env.world_size, " but ", b.rank_variable, "=", b.env.rank, " ", b.world_variable, "=",
        b.env.world_size, "; hint: a launcher inside another (e.g. zerotune launch under srun) must not pass "
        "its own rank variables through"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RankEnvironment> ReadRankEnvironment(const EnvironmentReader& getenv) {
  std::vector<Candidate> found;
  for (auto* reader : {&FromTorchrun, &FromSlurm, &FromOpenMpi}) {
    ZT_ASSIGN_OR_RETURN(std::optional<Candidate> candidate, (*reader)(getenv));
    if (!candidate) continue;
    ZT_RETURN_IF_ERROR(Validate(*candidate));
    found.push_back(*candidate);
  }
  const char* pmi_variable = nullptr;
  ZT_ASSIGN_OR_RETURN(std::optional<int> pmi_rank, PmiRank(getenv, &pmi_variable));
  if (found.empty()) {
    if (pmi_rank) {
      return absl::FailedPreconditionError(absl::StrCat(
          pmi_variable, "=", *pmi_rank, " is set but no launcher gave the world size and local rank; "
          "hint: export RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE (mpirun -x ...)"));
    }
    return absl::NotFoundError("no launcher environment (RANK/WORLD_SIZE, SLURM_PROCID/SLURM_NTASKS, "
                               "OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE) is set");
  }
  for (size_t i = 1; i < found.size(); ++i) ZT_RETURN_IF_ERROR(CheckAgree(found[0], found[i]));
  if (pmi_rank && *pmi_rank != found[0].env.rank) {
    return absl::FailedPreconditionError(absl::StrCat("launcher environments disagree: ", found[0].rank_variable,
                                                      "=", found[0].env.rank, " but ", pmi_variable, "=",
                                                      *pmi_rank));
  }
  return found[0].env;
}

absl::StatusOr<RankEnvironment> ReadRankEnvironment() {
  return ReadRankEnvironment([](const char* name) { return std::getenv(name); });
}

}  // namespace zt::launch
