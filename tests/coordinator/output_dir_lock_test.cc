// One job per output_dir: a second holder is refused naming the first, and a holder that
// died (a forked child, killed -9) leaves the folder free.
#include "coordinator/output_dir_lock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error_context.h"
#include "coordinator/coordinator_server.h"
#include "tests/support/temp_dir.h"

namespace zt::coordinator {
namespace {

using ::testing::HasSubstr;

TEST(OutputDirLockTest, SecondHolderIsRefusedNamingTheFirstUntilItReleases) {
  zt::testing::TempDir dir;
  const absl::Time since = absl::FromUnixSeconds(1796000000);
  absl::StatusOr<std::unique_ptr<OutputDirLock>> first =
      OutputDirLock::Acquire(dir.path(), "job-a", since);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<OutputDirLock>> second =
      OutputDirLock::Acquire(dir.path(), "job-b", absl::Now());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      std::string(second.status().message()),
      HasSubstr(absl::StrCat("output_dir ", dir.path(), " is in use by job job-a (pid ", getpid(),
                             " on host ", common::HostName(), ") since 2026-11-30T00:53:20")));
  first->reset();
  EXPECT_TRUE(OutputDirLock::Acquire(dir.path(), "job-b", absl::Now()).ok());
}

TEST(OutputDirLockTest, DeadHolderDoesNotKeepTheFolder) {
  zt::testing::TempDir dir;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    absl::StatusOr<std::unique_ptr<OutputDirLock>> held =
        OutputDirLock::Acquire(dir.path(), "job-child", absl::Now());
    const char ok = held.ok() ? '1' : '0';
    if (write(ready[1], &ok, 1) != 1) _exit(2);
    for (int i = 0; i < 600; ++i) sleep(1);  // killed long before; bounded regardless
    _exit(0);
  }
  close(ready[1]);
  char ok = 0;
  ASSERT_EQ(read(ready[0], &ok, 1), 1);
  close(ready[0]);
  ASSERT_EQ(ok, '1');
  absl::StatusOr<std::unique_ptr<OutputDirLock>> refused =
      OutputDirLock::Acquire(dir.path(), "job-parent", absl::Now());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr(absl::StrCat("job job-child (pid ", child, " on host")));
  ASSERT_EQ(kill(child, SIGKILL), 0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  absl::StatusOr<std::unique_ptr<OutputDirLock>> after =
      OutputDirLock::Acquire(dir.path(), "job-parent", absl::Now());
  EXPECT_TRUE(after.ok()) << after.status();
}

// The service's output_dir is locked by the server hosting it, before the port is bound.
TEST(OutputDirLockTest, SecondServerForTheSameOutputDirIsRefused) {
  zt::testing::TempDir dir;
  ServiceOptions options;
  options.output_dir = dir.path();
  options.job.job_id = "first";
  absl::StatusOr<std::unique_ptr<CoordinatorServer>> first = CoordinatorServer::Start(
      ServerOptions(), std::make_unique<CoordinatorService>(options, Clock::Real()));
  ASSERT_TRUE(first.ok()) << first.status();
  options.job.job_id = "second";
  absl::StatusOr<std::unique_ptr<CoordinatorServer>> second = CoordinatorServer::Start(
      ServerOptions(), std::make_unique<CoordinatorService>(options, Clock::Real()));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("in use by job first"));
}

}  // namespace
}  // namespace zt::coordinator
