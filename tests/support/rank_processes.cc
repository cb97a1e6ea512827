#include "tests/support/rank_processes.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace zt::testing {
namespace {

constexpr char kRankVariable[] = "ZT_TEST_RANK";
constexpr char kWorldVariable[] = "ZT_TEST_WORLD_SIZE";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Environment for one rank: the parent's, minus what RunRanks sets, plus the rank's own.
std::vector<std::string> RankEnvironment(int rank, int world_size,
                                         const std::vector<std::string>& extra_env) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string value(*entry);
    if (value.rfind(std::string(kRankVariable) + "=", 0) == 0 ||
        value.rfind(std::string(kWorldVariable) + "=", 0) == 0) {
      continue;
    }
    env.push_back(std::move(value));
  }
  env.push_back(absl::StrCat(kRankVariable, "=", rank));
  env.push_back(absl::StrCat(kWorldVariable, "=", world_size));
  env.push_back("OMP_NUM_THREADS=1");
  env.push_back("OPENBLAS_NUM_THREADS=1");
  for (const std::string& entry : extra_env) env.push_back(entry);
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

std::optional<int> ChildRank() {
  const char* value = std::getenv(kRankVariable);
  int rank = 0;
  if (value == nullptr || !absl::SimpleAtoi(value, &rank)) return std::nullopt;
  return rank;
}

int ChildWorldSize() {
  const char* value = std::getenv(kWorldVariable);
  int world_size = 0;
  if (value == nullptr || !absl::SimpleAtoi(value, &world_size)) return 0;
  return world_size;
}

absl::StatusOr<std::vector<RankResult>> RunRanks(int world_size, absl::Duration timeout,
                                                 const std::vector<std::string>& extra_env) {
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  if (test == nullptr) return absl::FailedPreconditionError("RunRanks() called outside a test");
  std::string filter = absl::StrCat("--gtest_filter=", test->test_suite_name(), ".", test->name());

  TempDir logs;
  std::vector<pid_t> pids(world_size, -1);
  std::vector<RankResult> results(world_size);
  for (int rank = 0; rank < world_size; ++rank) {
    results[rank].rank = rank;
    std::string log = logs.Join(absl::StrCat("rank", rank, ".log"));
    std::vector<std::string> env = RankEnvironment(rank, world_size, extra_env);
    std::vector<std::string> args = {"/proc/self/exe", filter, "--gtest_brief=1"};
    std::vector<char*> env_c = CStrings(env);
    std::vector<char*> args_c = CStrings(args);
    pid_t pid = fork();
    if (pid < 0) {
      for (pid_t started : pids) {
        if (started > 0) kill(-started, SIGKILL);
      }
      return absl::InternalError(absl::StrCat("fork failed: ", std::strerror(errno)));
    }
    if (pid == 0) {
      setpgid(0, 0);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
      }
      execve("/proc/self/exe", args_c.data(), env_c.data());
      _exit(127);
    }
    setpgid(pid, pid);  // also from the parent, so the group exists before any kill
    pids[rank] = pid;
  }

  const absl::Time deadline = absl::Now() + timeout;
  int running = world_size;
  while (running > 0) {
    for (int rank = 0; rank < world_size; ++rank) {
      if (pids[rank] < 0) continue;
      int status = 0;
      pid_t done = waitpid(pids[rank], &status, WNOHANG);
      if (done != pids[rank]) continue;
      if (WIFEXITED(status)) results[rank].exit_code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) results[rank].signal = WTERMSIG(status);
      kill(-pids[rank], SIGKILL);  // anything the rank left behind in its group
      pids[rank] = -1;
      --running;
    }
    if (running == 0) break;
    if (absl::Now() >= deadline) {
      for (int rank = 0; rank < world_size; ++rank) {
        if (pids[rank] < 0) continue;
        kill(-pids[rank], SIGKILL);
        int status = 0;
        waitpid(pids[rank], &status, 0);
        results[rank].timed_out = true;
        results[rank].signal = SIGKILL;
        pids[rank] = -1;
      }
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  for (int rank = 0; rank < world_size; ++rank) {
    results[rank].output = ReadFile(logs.Join(absl::StrCat("rank", rank, ".log")));
  }
  return results;
}

void ExpectRanksSucceed(const absl::StatusOr<std::vector<RankResult>>& results) {
  ASSERT_TRUE(results.ok()) << results.status();
  for (const RankResult& result : *results) {
    EXPECT_TRUE(result.exit_code == 0 && result.signal == 0)
        << "rank " << result.rank << (result.timed_out ? " timed out" : "") << ", exit code "
        << result.exit_code << ", signal " << result.signal << ", output:\n"
        << result.output;
  }
}

}  // namespace zt::testing
