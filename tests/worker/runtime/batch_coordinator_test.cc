#include "worker/runtime/batch_coordinator.h"

#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zt::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Vars = std::map<std::string, std::string>;

absl::StatusOr<BatchCoordinator> Discover(const Vars& vars, const AddressBroadcast& broadcast = nullptr) {
  return DiscoverBatchCoordinator(
      [&vars](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
      },
      broadcast);
}

const Vars kSrunRank1 = {{"SLURM_PROCID", "1"},       {"SLURM_NTASKS", "4"},
                         {"SLURM_LOCALID", "1"},      {"SLURM_NODEID", "0"},
                         {"SLURM_TASKS_PER_NODE", "2(x2)"}, {"SLURM_JOB_ID", "4242"},
                         {"SLURM_STEP_ID", "0"},      {"SLURM_STEP_NODELIST", "gpu[07-08]"},
                         {"SLURMD_NODENAME", "gpu07"}};

TEST(BatchCoordinatorTest, SrunDefaultsToTheFirstHostAndAJobDerivedPort) {
  absl::StatusOr<BatchCoordinator> batch = Discover(kSrunRank1);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->rank.rank, 1);
  EXPECT_EQ(batch->rank.local_world_size, 2);
  EXPECT_EQ(batch->master_addr, "gpu07");
  EXPECT_EQ(batch->master_port, PortForJob("slurm-4242.0"));
  EXPECT_EQ(batch->address(), "gpu07:" + std::to_string(PortForJob("slurm-4242.0")));
  EXPECT_THAT(batch->node_order, ElementsAre("gpu07", "gpu08"));
  EXPECT_EQ(batch->host, "gpu07");
  EXPECT_EQ(batch->job_id, "slurm-4242.0");
  EXPECT_FALSE(batch->host_coordinator);
  Vars rank0 = kSrunRank1;
  rank0["SLURM_PROCID"] = "0";
  rank0["SLURM_LOCALID"] = "0";
  absl::StatusOr<BatchCoordinator> zero = Discover(rank0);
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_TRUE(zero->host_coordinator);
  EXPECT_EQ(zero->token, batch->token);  // derived from the job: the same on every rank
}

TEST(BatchCoordinatorTest, PortsOfTwoJobsDifferAndStayInRange) {
  EXPECT_NE(PortForJob("slurm-4242.0"), PortForJob("slurm-4243.0"));
  EXPECT_NE(PortForJob("slurm-4242.0"), PortForJob("slurm-4242.1"));
  for (int job = 0; job < 1000; ++job) {
    const int port = PortForJob("slurm-" + std::to_string(job) + ".0");
    EXPECT_GE(port, 20000);
    EXPECT_LT(port, 60000);
  }
}

TEST(BatchCoordinatorTest, ExportedValuesWin) {
  Vars vars = kSrunRank1;
  vars["MASTER_ADDR"] = "10.1.2.3";
  vars["MASTER_PORT"] = "29500";
  vars["ZEROTUNE_TOKEN"] = "secret";
  vars["ZEROTUNE_HEARTBEAT_TIMEOUT_MS"] = "2500";
  absl::StatusOr<BatchCoordinator> batch = Discover(vars);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->address(), "10.1.2.3:29500");
  EXPECT_EQ(batch->token, "secret");
  EXPECT_EQ(batch->heartbeat_timeout, absl::Milliseconds(2500));
  vars["MASTER_ADDR"] = "fd00::7";
  EXPECT_EQ(Discover(vars)->address(), "[fd00::7]:29500");
}

const Vars kMpirunRank1 = {{"OMPI_COMM_WORLD_RANK", "1"},       {"OMPI_COMM_WORLD_SIZE", "2"},
                           {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                           {"PMIX_RANK", "1"},                  {"OMPI_MCA_ess_base_jobid", "1877409793"}};

TEST(BatchCoordinatorTest, MpirunBroadcastsRankZerosAddressWithoutMasterAddr) {
  int asked_rank = -1;
  absl::StatusOr<BatchCoordinator> batch = Discover(kMpirunRank1, [&](int rank) -> absl::StatusOr<std::string> {
    asked_rank = rank;
    return std::string("192.0.2.10");
  });
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(asked_rank, 1);
  EXPECT_EQ(batch->address(), "192.0.2.10:" + std::to_string(PortForJob("mpi-1877409793")));
  EXPECT_TRUE(batch->node_order.empty());
}

TEST(BatchCoordinatorTest, Errors) {
  struct Case {
    Vars vars;
    absl::StatusCode code;
    const char* message;
  };
  Vars bad_port = kSrunRank1;
  bad_port["MASTER_PORT"] = "70000";
  Vars disagree = kMpirunRank1;
  disagree["PMIX_RANK"] = "0";
  Vars no_job = kMpirunRank1;
  no_job.erase("OMPI_MCA_ess_base_jobid");
  no_job["MASTER_ADDR"] = "10.0.0.1";
  Vars bad_timeout = kSrunRank1;
  bad_timeout["ZEROTUNE_HEARTBEAT_TIMEOUT_MS"] = "soon";
  for (const Case& c : {
           Case{{}, absl::StatusCode::kNotFound, "no launcher environment"},
           Case{{{"RANK", "0"}, {"WORLD_SIZE", "2"}}, absl::StatusCode::kNotFound, "ZEROTUNE_COORDINATOR is not"},
           Case{kMpirunRank1, absl::StatusCode::kFailedPrecondition, "`mpirun -x MASTER_ADDR=<rank 0's host address>"},
           Case{bad_port, absl::StatusCode::kInvalidArgument, "MASTER_PORT='70000' is not a port (1-65535)"},
           Case{disagree, absl::StatusCode::kFailedPrecondition, "OMPI_COMM_WORLD_RANK=1 but PMIX_RANK=0"},
           Case{no_job, absl::StatusCode::kFailedPrecondition, "expected an exported MASTER_PORT"},
           Case{bad_timeout, absl::StatusCode::kInvalidArgument,
                "ZEROTUNE_HEARTBEAT_TIMEOUT_MS='soon' is not a positive integer"},
       }) {
    absl::StatusOr<BatchCoordinator> batch = Discover(c.vars);
    ASSERT_FALSE(batch.ok()) << c.message;
    EXPECT_EQ(batch.status().code(), c.code) << batch.status();
    EXPECT_THAT(batch.status().message(), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace zt::worker
