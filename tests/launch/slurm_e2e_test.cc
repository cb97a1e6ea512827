// A one-node Slurm cluster from Debian's packages (munged, slurmctld, slurmd; everything in a
// scratch folder, tests/launch/slurm_cluster.sh) runs the documented sbatch template
// (launch/templates/zerotune.sbatch): srun starts 2 ranks that read SLURM_PROCID/LOCALID/
// NTASKS/NODEID, rendezvous through rank 0's in-process coordinator (MASTER_ADDR = the first
// host, MASTER_PORT derived from the job id) and finish; a killed rank fails the step fast.
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/launch/launcher_e2e_support.h"
#include "tests/support/temp_dir.h"
#include "worker/runtime/batch_coordinator.h"

namespace zt::launch::testing {
namespace {

using ::testing::HasSubstr;

const std::string kCluster = std::string(ZT_SOURCE_ROOT) + "/tests/launch/slurm_cluster.sh";
const std::string kSbatchTemplate = std::string(ZT_SOURCE_ROOT) + "/launch/templates/zerotune.sbatch";

struct JobEnd {
  std::string state;  // COMPLETED, FAILED, ... ("" at the timeout)
  std::string exit_code;
};

class SlurmE2eTest : public ::testing::Test {
 protected:
  // One cluster for the suite; stopped by the pids in its pid files even when a test failed.
  static void SetUpTestSuite() {
    missing_ = MissingPrerequisite({"munged", "slurmctld", "slurmd", "sbatch", "scontrol"});
    if (!missing_.empty()) return;
    cluster_dir_ = new zt::testing::TempDir();
    const absl::Time start = absl::Now();
    const int slurmctld_port = FreePort();
    start_ = Shell(absl::StrCat("ZT_SLURMCTLD_PORT=", slurmctld_port, " ZT_SLURMD_PORT=", FreePort({slurmctld_port}),
                                " ", kCluster, " start ", cluster_dir_->path()),
                   absl::Seconds(60));
    std::cout << "[ measured ] Slurm cluster up: " << absl::FormatDuration(absl::Now() - start) << "\n";
  }
  static void TearDownTestSuite() {
    if (cluster_dir_ == nullptr) return;
    Shell(absl::StrCat(kCluster, " stop ", cluster_dir_->path()), absl::Seconds(30));
    delete cluster_dir_;
    cluster_dir_ = nullptr;
  }
  void SetUp() override {
    if (!missing_.empty()) GTEST_SKIP() << missing_;
    ASSERT_EQ(start_.exit_code, 0) << start_.output;
  }

  std::string Env() const { return absl::StrCat("export SLURM_CONF=", cluster_dir_->Join("slurm.conf"), "; "); }

  // sbatch of the template; the job id.
  std::string Submit(const std::string& sbatch_flags, const std::string& worker_args) {
    const ShellResult submit = Shell(absl::StrCat(Env(), "cd ", dir_.path(), " && ZEROTUNE_WORKER=", ZT_WORKER_BIN,
                                                  " sbatch --parsable --overcommit -N1 --ntasks-per-node=2 -o ",
                                                  dir_.Join("job.out"), " ", sbatch_flags, " ", kSbatchTemplate, " ",
                                                  worker_args));
    EXPECT_EQ(submit.exit_code, 0) << submit.output;
    return std::string(absl::StripAsciiWhitespace(submit.output));
  }

  JobEnd AwaitEnd(const std::string& job, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      const ShellResult show = Shell(absl::StrCat(Env(), "scontrol -o show job ", job));
      const std::string state = Field(show.output, "JobState=");
      if (!state.empty() && state != "PENDING" && state != "RUNNING" && state != "CONFIGURING" &&
          state != "COMPLETING") {
        return JobEnd{state, Field(show.output, "ExitCode=")};
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return JobEnd{};
  }

  static std::string Field(const std::string& text, const std::string& key) {
    const size_t at = text.find(key);
    if (at == std::string::npos) return "";
    const size_t start = at + key.size();
    return text.substr(start, text.find_first_of(" \n", start) - start);
  }

  static std::string missing_;
  static ShellResult start_;
  static zt::testing::TempDir* cluster_dir_;
  zt::testing::TempDir dir_;
};

std::string SlurmE2eTest::missing_;
ShellResult SlurmE2eTest::start_;
zt::testing::TempDir* SlurmE2eTest::cluster_dir_ = nullptr;

TEST_F(SlurmE2eTest, SbatchTemplateRunsTwoRanksThroughRankZerosCoordinator) {
  const absl::Time start = absl::Now();
  const std::string job = Submit("", absl::StrCat("selftest --steps 6 --save_every 3 --step_ms 5 --output_dir ",
                                                  dir_.path()));
  const JobEnd end = AwaitEnd(job, absl::Seconds(90));
  const std::string output = Slurp(dir_.Join("job.out"));
  ASSERT_EQ(end.state, "COMPLETED") << output << Slurp(cluster_dir_->Join("slurmd.log"));
  std::cout << "[ measured ] sbatch → 2 srun ranks done (6 steps): " << absl::FormatDuration(absl::Now() - start)
            << "\n";
  EXPECT_EQ(end.exit_code, "0:0");
  const ShellResult host = Shell("hostname -s");
  // MASTER_ADDR: the first (only) host; MASTER_PORT: derived from the job and step id.
  EXPECT_THAT(output, HasSubstr(absl::StrCat("job 'slurm-", job, ".0' of 2 rank(s) served by rank 0 (slurm) on ",
                                             absl::StripAsciiWhitespace(host.output), ":",
                                             worker::PortForJob(absl::StrCat("slurm-", job, ".0")))));
  EXPECT_EQ(Count(output, "selftest done: step 6 counter 12"), 2) << output;
  EXPECT_EQ(Slurp(dir_.Join("selftest/latest")), "6\n");
}

TEST_F(SlurmE2eTest, KilledRankFailsTheStepFast) {
  const absl::Duration timeout = absl::Seconds(3);
  const std::string job = Submit("--export=ALL,ZEROTUNE_HEARTBEAT_TIMEOUT_MS=3000,ZEROTUNE_HEARTBEAT_INTERVAL_MS=300",
                                 absl::StrCat("selftest --steps 100000 --save_every 100000 --step_ms 10 ",
                                                  "--output_dir ", dir_.path()));
  ASSERT_TRUE(AwaitOutput(dir_.Join("job.out"), "resuming at step 0", 2, absl::Seconds(60)))
      << Slurp(dir_.Join("job.out"));
  std::vector<pid_t> rank1;
  for (pid_t pid : FindProcesses("zerotune-worker", "SLURM_PROCID=1")) {
    if (Slurp(absl::StrCat("/proc/", pid, "/environ")).find("SLURM_JOB_ID=" + job) != std::string::npos) {
      rank1.push_back(pid);
    }
  }
  ASSERT_EQ(rank1.size(), 1u);
  const absl::Time killed = absl::Now();
  ASSERT_EQ(kill(rank1[0], SIGKILL), 0);
  const JobEnd end = AwaitEnd(job, absl::Seconds(60));
  const absl::Duration failed_after = absl::Now() - killed;
  const std::string output = Slurp(dir_.Join("job.out"));
  EXPECT_EQ(end.state, "FAILED") << output;
  EXPECT_NE(end.exit_code, "0:0");
  EXPECT_LT(failed_after, 2 * timeout) << output;
  std::cout << "[ measured ] rank 1 killed → Slurm job " << end.state << " (" << end.exit_code
            << "): " << absl::FormatDuration(failed_after) << "\n";
}

}  // namespace
}  // namespace zt::launch::testing
