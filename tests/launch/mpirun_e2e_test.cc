// `mpirun --allow-run-as-root --oversubscribe -np 2 zerotune-worker selftest ...` (through the
// documented template launch/templates/zerotune-mpirun.sh and bare): the ranks read their
// identity from OMPI_COMM_WORLD_*, rank 0 hosts the coordinator in its process, its address
// comes from MASTER_ADDR or an MPI broadcast, and a rank that stops answering makes every rank
// exit non-zero within twice the heartbeat timeout (mpirun itself never notices a stopped rank).
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/launch/launcher_e2e_support.h"
#include "tests/support/temp_dir.h"

namespace zt::launch::testing {
namespace {

using ::testing::HasSubstr;

const std::string kMpirunTemplate = std::string(ZT_SOURCE_ROOT) + "/launch/templates/zerotune-mpirun.sh";

class MpirunE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string missing = MissingPrerequisite({ZT_MPIEXEC});
    if (!missing.empty()) GTEST_SKIP() << missing;
  }
  zt::testing::TempDir dir_;
};

TEST_F(MpirunE2eTest, TemplateRunsTwoRanksWithRankZeroHostingTheCoordinator) {
  // No MASTER_ADDR: rank 0 broadcasts its routable address over MPI.
  const absl::Time start = absl::Now();
  const ShellResult run = Shell(
      absl::StrCat("unset MASTER_ADDR MASTER_PORT ZEROTUNE_COORDINATOR; ZEROTUNE_NP=2 ZEROTUNE_WORKER=", ZT_WORKER_BIN,
                   " ZEROTUNE_MPIRUN_ARGS='--allow-run-as-root --oversubscribe' ", kMpirunTemplate,
                   " selftest --steps 6 --save_every 3 --step_ms 5 --output_dir ", dir_.path()),
      absl::Seconds(90));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::cout << "[ measured ] mpirun -np 2 selftest (6 steps): " << absl::FormatDuration(absl::Now() - start) << "\n";
  EXPECT_THAT(run.output, HasSubstr("of 2 rank(s) served by rank 0 (openmpi) on "));
  EXPECT_EQ(Count(run.output, "selftest done: step 6 counter 12"), 2) << run.output;
  EXPECT_EQ(Slurp(dir_.Join("selftest/latest")), "6\n");
}

TEST_F(MpirunE2eTest, ExportedMasterAddrAndPortAreUsed) {
  const std::string master_port = std::to_string(FreePort());
  const ShellResult run = Shell(
      absl::StrCat(ZT_MPIEXEC, " --allow-run-as-root --oversubscribe -np 2 -x MASTER_ADDR=127.0.0.1 -x MASTER_PORT=",
                   master_port, " ", ZT_WORKER_BIN, " selftest --steps 3 --save_every 3 --step_ms 5 --output_dir ",
                   dir_.path()),
      absl::Seconds(90));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat("served by rank 0 (openmpi) on 127.0.0.1:", master_port, "\n")));
  EXPECT_EQ(Count(run.output, "selftest done: step 3 counter 6"), 2) << run.output;
}

TEST_F(MpirunE2eTest, StoppedRankMakesEveryRankExitNonZeroWithinTwiceTheHeartbeatTimeout) {
  const absl::Duration timeout = absl::Seconds(2);
  Background mpirun(absl::StrCat("exec ", ZT_MPIEXEC, " --allow-run-as-root --oversubscribe -np 2",
                                 " -x ZEROTUNE_HEARTBEAT_INTERVAL_MS=200 -x ZEROTUNE_HEARTBEAT_TIMEOUT_MS=2000 ",
                                 ZT_WORKER_BIN, " selftest --steps 100000 --save_every 100000 --step_ms 10",
                                 " --output_dir ", dir_.path()),
                    dir_.Join("mpirun.log"));
  ASSERT_TRUE(AwaitOutput(dir_.Join("mpirun.log"), "resuming at step 0", 2, absl::Seconds(60))) << mpirun.output();
  const std::vector<pid_t> rank1 = FindProcesses("zerotune-worker", "OMPI_COMM_WORLD_RANK=1");
  ASSERT_EQ(rank1.size(), 1u) << mpirun.output();
  // SIGSTOP: the rank neither exits nor answers, as on a hung node; only heartbeats tell.
  const absl::Time stopped = absl::Now();
  ASSERT_EQ(kill(rank1[0], SIGSTOP), 0);
  const int code = mpirun.Wait(stopped + absl::Seconds(30));
  const absl::Duration exited_after = absl::Now() - stopped;
  const std::string output = mpirun.output();
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(code, -1) << "mpirun still running 30 s after the rank stopped:\n" << output;
  EXPECT_THAT(output, HasSubstr("rank 1 on "));
  EXPECT_THAT(output, HasSubstr("failed (no heartbeat"));
  EXPECT_LT(exited_after, 2 * timeout) << output;
  std::cout << "[ measured ] rank 1 stopped → mpirun exited " << code << ": " << absl::FormatDuration(exited_after)
            << " (heartbeat timeout 2s)\n";
}

}  // namespace
}  // namespace zt::launch::testing
