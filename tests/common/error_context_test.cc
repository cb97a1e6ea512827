#include "common/error_context.h"

#include <stdlib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zt::common {
namespace {

using ::testing::HasSubstr;

TEST(ErrorContextTest, NamesHostRankAndLocation) {
  setenv("RANK", "7", 1);
  std::string context = ErrorContext("sharding/x.cc", 42);
  EXPECT_THAT(context, HasSubstr("host=" + HostName()));
  EXPECT_THAT(context, HasSubstr("rank=7"));
  EXPECT_THAT(context, HasSubstr("at sharding/x.cc:42"));
  unsetenv("RANK");
}

TEST(ErrorContextTest, RankFallsBackToMpiAndSlurmVariables) {
  unsetenv("RANK");
  setenv("OMPI_COMM_WORLD_RANK", "3", 1);
  EXPECT_EQ(RankFromEnvironment(), "3");
  unsetenv("OMPI_COMM_WORLD_RANK");
  setenv("SLURM_PROCID", "5", 1);
  EXPECT_EQ(RankFromEnvironment(), "5");
  unsetenv("SLURM_PROCID");
  unsetenv("PMIX_RANK");
  unsetenv("PMI_RANK");
  EXPECT_EQ(RankFromEnvironment(), "?");
}

TEST(ErrorContextTest, ForeignLibraryErrorFormat) {
  absl::Status status = ForeignLibraryError(absl::StatusCode::kAborted, "NCCL", "ncclAllReduce(...)",
                                            "remote process exited", "a.cc", 9);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("NCCL error in `ncclAllReduce(...)`: remote process exited (host="));
  EXPECT_THAT(std::string(status.message()), HasSubstr("at a.cc:9)"));
}

}  // namespace
}  // namespace zt::common
