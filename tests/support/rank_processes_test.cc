// The multi-rank harness must report what went wrong: a rank's exit code, and a hung rank
// killed at the deadline instead of hanging the test.
#include "tests/support/rank_processes.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "absl/time/clock.h"

namespace zt::testing {
namespace {

TEST(RankProcessesTest, ReportsExitCodesOutputAndKillsHungRanks) {
  if (std::optional<int> rank = ChildRank()) {
    std::printf("rank %d of %d here\n", *rank, ChildWorldSize());
    std::fflush(stdout);
    if (*rank == 1) _exit(3);
    if (*rank == 2) absl::SleepFor(absl::Hours(1));
    return;
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<RankResult>> results = RunRanks(3, absl::Seconds(3));
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  const std::vector<RankResult>& r = *results;
  EXPECT_EQ(r[0].exit_code, 0);
  EXPECT_NE(r[0].output.find("rank 0 of 3 here"), std::string::npos) << r[0].output;
  EXPECT_EQ(r[1].exit_code, 3);
  EXPECT_FALSE(r[1].timed_out);
  EXPECT_TRUE(r[2].timed_out);
  EXPECT_EQ(r[2].signal, SIGKILL);
}

}  // namespace
}  // namespace zt::testing
