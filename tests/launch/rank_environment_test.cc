#include "launch/rank_environment.h"

#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zt::launch {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<RankEnvironment> Read(const std::map<std::string, std::string>& vars) {
  return ReadRankEnvironment([&vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

TEST(RankEnvironmentTest, TorchrunContract) {
  absl::StatusOr<RankEnvironment> env =
      Read({{"RANK", "5"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "4"}, {"GROUP_RANK", "1"}});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(*env, (RankEnvironment{5, 8, 1, 4, 1, ""}));
  EXPECT_EQ(env->source, "torchrun");
}

TEST(RankEnvironmentTest, SrunTakesLocalSizeFromTasksPerNode) {
  // 3 nodes with 2, 2 and 1 tasks; the last task is on node 2.
  absl::StatusOr<RankEnvironment> env = Read({{"SLURM_PROCID", "4"}, {"SLURM_NTASKS", "5"}, {"SLURM_LOCALID", "0"},
                                              {"SLURM_NODEID", "2"}, {"SLURM_TASKS_PER_NODE", "2(x2),1"}});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(*env, (RankEnvironment{4, 5, 0, 1, 2, ""}));
  EXPECT_EQ(env->source, "slurm");
}

TEST(RankEnvironmentTest, OpenMpi) {
  absl::StatusOr<RankEnvironment> env = Read({{"OMPI_COMM_WORLD_RANK", "3"}, {"OMPI_COMM_WORLD_SIZE", "4"},
                                              {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                                              {"PMIX_RANK", "3"}});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(*env, (RankEnvironment{3, 4, 1, 2, 1, ""}));
}

TEST(RankEnvironmentTest, AgreeingSourcesAreAccepted) {
  absl::StatusOr<RankEnvironment> env = Read({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "1"},
                                              {"LOCAL_WORLD_SIZE", "2"}, {"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->source, "torchrun");
}

TEST(RankEnvironmentTest, DisagreeingSourcesNameBothVariables) {
  absl::StatusOr<RankEnvironment> env =
      Read({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"}});
  EXPECT_EQ(env.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(env.status().message()),
              HasSubstr("RANK=0 WORLD_SIZE=2 but OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2"));
  absl::StatusOr<RankEnvironment> pmi = Read({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"PMI_RANK", "1"}});
  EXPECT_THAT(std::string(pmi.status().message()), HasSubstr("SLURM_PROCID=0 but PMI_RANK=1"));
}

TEST(RankEnvironmentTest, BadValuesNameTheVariable) {
  EXPECT_THAT(std::string(Read({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).status().message()),
              HasSubstr("environment variable RANK='x' is not a non-negative integer"));
  EXPECT_THAT(std::string(Read({{"RANK", "2"}, {"WORLD_SIZE", "2"}}).status().message()),
              HasSubstr("RANK=2 is not a rank of WORLD_SIZE=2"));
  EXPECT_EQ(Read({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_NODEID", "3"},
                  {"SLURM_TASKS_PER_NODE", "1(x2)"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RankEnvironmentTest, NoLauncherIsNotFoundAndPmiAloneIsNotEnough) {
  EXPECT_EQ(Read({}).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<RankEnvironment> pmi = Read({{"PMIX_RANK", "0"}});
  EXPECT_EQ(pmi.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(pmi.status().message()), HasSubstr("mpirun -x"));
}

}  // namespace
}  // namespace zt::launch
