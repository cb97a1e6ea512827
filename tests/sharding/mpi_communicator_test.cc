// MpiCommunicator under a real `mpirun --allow-run-as-root --oversubscribe -np 2`: run by CTest
// as a plain process, each test starts mpirun on this same binary with a filter for itself
// (with a deadline: a hung job is killed and fails the test), and the ranks mpirun starts run
// the test body.
#include "sharding/collectives/mpi_communicator.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "tests/sharding/collective_suite.h"
#include "tests/support/temp_dir.h"

namespace zt::sharding {
namespace {

bool UnderMpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr; }

// MPI lives for the whole rank process: initialised before the first test, finalised after
// the last (never in the launching parent).
class MpiRankEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (!UnderMpirun()) return;
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
  }
  void TearDown() override {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) MPI_Finalize();
  }
};
::testing::Environment* const kMpiRankEnvironment =
    ::testing::AddGlobalTestEnvironment(new MpiRankEnvironment);

struct MpirunResult {
  int exit_code = -1;
  bool timed_out = false;
  std::string output;
};

// Runs this binary's current test under mpirun, killing the whole job after `timeout`.
MpirunResult RunThisTestUnderMpirun(int ranks, absl::Duration timeout) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string filter =
      std::string("--gtest_filter=") + info->test_suite_name() + "." + info->name();
  zt::testing::TempDir dir;
  const std::string log = dir.Join("mpirun.log");
  const std::string np = std::to_string(ranks);
  // mpirun must be given the real path: /proc/self/exe would name mpirun itself there.
  char self[4096] = {};
  const ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  if (length <= 0) return MpirunResult{-1, false, "cannot read /proc/self/exe"};
  std::vector<std::string> args = {
      ZT_MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", np, std::string(self, length),
      filter,     "--gtest_color=no"};
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // one group: the timeout kills mpirun and its ranks together
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  MpirunResult result;
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      result.timed_out = true;
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  result.output = text.str();
  return result;
}

TEST(MpiCommunicatorTest, CollectiveSuiteAt2Ranks) {
  if (!UnderMpirun()) {
    MpirunResult result = RunThisTestUnderMpirun(2, absl::Seconds(300));
    EXPECT_FALSE(result.timed_out) << result.output;
    EXPECT_EQ(result.exit_code, 0) << result.output;
    // Both ranks ran the body (an empty filter match would also exit 0).
    const std::string ok = "[       OK ] MpiCommunicatorTest.CollectiveSuiteAt2Ranks";
    const size_t first = result.output.find(ok);
    ASSERT_NE(first, std::string::npos) << result.output;
    EXPECT_NE(result.output.find(ok, first + 1), std::string::npos) << result.output;
    return;
  }
  absl::StatusOr<std::unique_ptr<MpiCommunicator>> comm = MpiCommunicator::Create();
  ASSERT_TRUE(comm.ok()) << comm.status();
  EXPECT_EQ((*comm)->BackendName(), "mpi");
  EXPECT_EQ((*comm)->Size(), 2);
  testing::RunCollectiveSuite(**comm, at::kCPU);
  testing::ExpectAbortFailsLaterOps(**comm, at::kCPU);
}

// Under mpirun a rank that never joins an op must end the job (non-zero), never hang it.
TEST(MpiCommunicatorTest, ARankThatSkipsAnOpEndsTheJobInsteadOfHangingIt) {
  if (!UnderMpirun()) {
    MpirunResult result = RunThisTestUnderMpirun(2, absl::Seconds(120));
    EXPECT_FALSE(result.timed_out) << result.output;
    EXPECT_NE(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("zt-mpi-deadline-checked"), std::string::npos) << result.output;
    return;
  }
  absl::StatusOr<std::unique_ptr<MpiCommunicator>> comm = MpiCommunicator::Create();
  ASSERT_TRUE(comm.ok()) << comm.status();
  if ((*comm)->Rank() == 1) {
    absl::SleepFor(absl::Seconds(100));  // never joins; ended by rank 0's MPI_Abort
    return;
  }
  at::Tensor tensor = at::ones({1000}, at::kFloat);
  absl::StatusOr<std::unique_ptr<Work>> work = (*comm)->AllReduce(tensor, ReduceOp::kSum);
  ASSERT_TRUE(work.ok()) << work.status();
  absl::Time start = absl::Now();
  absl::Status status = (*work)->Wait(start + absl::Milliseconds(500));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  start = absl::Now();
  (*comm)->Abort(absl::DeadlineExceededError("rank 1 never joined all_reduce"));
  status = (*work)->Wait(start + absl::Seconds(10));
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_NE(status.message().find("rank 1 never joined"), std::string::npos) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  if (!::testing::Test::HasFailure()) std::printf("zt-mpi-deadline-checked\n");
  std::fflush(stdout);
  MPI_Abort(MPI_COMM_WORLD, 3);
}

}  // namespace
}  // namespace zt::sharding
