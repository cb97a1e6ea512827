// The ssh spawner's command lines, and the remote command run for real by a local sh (what
// sshd does with it): exact environment, quoting, working directory, and the process-group
// kill when the channel's stdin closes.
#include "launch/ssh_spawner.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "launch/process_spawner.h"
#include "launch/ssh_preflight.h"
#include "tests/support/temp_dir.h"

namespace zt::launch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ShellQuoteTest, OneWordForSh) {
  struct Case {
    const char* text;
    const char* quoted;
  };
  for (const Case& c : {Case{"", "''"}, Case{"plain", "'plain'"}, Case{"a b", "'a b'"},
                        Case{"it's", "'it'\\''s'"}, Case{"$HOME `x` \"q\" \\", "'$HOME `x` \"q\" \\'"}}) {
    EXPECT_EQ(ShellQuote(c.text), c.quoted) << c.text;
  }
}

TEST(SshArgvTest, BatchModePortAndOptions) {
  SshOptions options;
  options.port = 2222;
  options.options = {"IdentityFile=/k", "StrictHostKeyChecking=yes"};
  EXPECT_THAT(SshArgv(options, "node-1", "true"),
              ElementsAre("ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "2222", "-o",
                          "IdentityFile=/k", "-o", "StrictHostKeyChecking=yes", "--", "node-1", "true"));
}

std::vector<std::string> ShellArgv(const std::string& command) { return {"/bin/sh", "-c", command}; }

// Runs `remote` as sshd would (stdin an open channel carrying its stdin text) and returns its exit.
ChildExit RunAsSshd(const RemoteCommand& remote, const std::vector<std::string>& env) {
  std::unique_ptr<ProcessSpawner> spawner = NewPosixSpawner();
  absl::StatusOr<int64_t> pid =
      spawner->Spawn(SpawnSpec{ShellArgv(remote.command), env, "", /*stdin_pipe=*/true, remote.stdin});
  EXPECT_TRUE(pid.ok()) << pid.status();
  std::optional<ChildExit> exit;
  while (pid.ok() && !(exit = spawner->TryReap(*pid))) absl::SleepFor(absl::Milliseconds(5));
  return exit.value_or(ChildExit{});
}

TEST(RemoteRankCommandTest, RunsWithExactlyTheGivenEnvironmentAndArguments) {
  zt::testing::TempDir dir;
  const std::string out = dir.Join("out");
  const RemoteCommand remote = RemoteRankCommand(
      {"/bin/sh", "-c", "{ pwd; env | sort; printf '[%s]\\n' \"$@\"; } > " + out, "rank", "it's", "$HOME", "a  b"},
      {"PATH=/usr/bin:/bin", "NCCL_DEBUG=WARN", "ODD=x'y z", "ZEROTUNE_TOKEN=s3cr3t \\$x'"}, dir.path());
  // The token travels on stdin, never in the command line other users of the host can read.
  EXPECT_THAT(remote.command, ::testing::Not(HasSubstr("s3cr3t")));
  EXPECT_EQ(remote.stdin, "s3cr3t \\$x'\n");
  const ChildExit exit = RunAsSshd(remote, {"LEAK=1", "PATH=/usr/bin:/bin"});
  EXPECT_EQ(exit.exit_code, 0);
  std::ifstream in(out);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // sh adds PWD (and may add SHLVL / _); nothing comes from the caller's environment.
  EXPECT_THAT(text, HasSubstr(dir.path() + "\n"));
  EXPECT_THAT(text, HasSubstr("NCCL_DEBUG=WARN\nODD=x'y z\nPATH=/usr/bin:/bin\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("LEAK")));
  EXPECT_THAT(text, HasSubstr("[it's]\n[$HOME]\n[a  b]\n"));
  EXPECT_THAT(text, HasSubstr("\nZEROTUNE_TOKEN=s3cr3t \\$x'\n"));
}

TEST(RemoteRankCommandTest, ExitStatusOfTheRankComesBack) {
  EXPECT_EQ(RunAsSshd(RemoteRankCommand({"/bin/sh", "-c", "exit 3"}, {}, "/"), {}).exit_code, 3);
  // Killed by a signal: sh's 128+N, which SshSpawner maps back to the signal.
  EXPECT_EQ(RunAsSshd(RemoteRankCommand({"/bin/sh", "-c", "kill -9 $$"}, {}, "/"), {}).exit_code, 137);
}

TEST(RemoteRankCommandTest, MissingWorkingDirectoryExits126) {
  absl::StatusOr<CommandResult> run = RunCommand(
      ShellArgv(RemoteRankCommand({"/bin/true"}, {}, "/nonexistent/zerotune").command), {}, absl::Seconds(10));
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 126);
}

TEST(RemoteRankCommandTest, ClosedStdinKillsTheRanksProcessGroup) {
  zt::testing::TempDir dir;
  // The rank starts a child of its own; both must die with the group.
  const std::string pids = dir.Join("pids");
  const RemoteCommand remote = RemoteRankCommand(
      {"/bin/sh", "-c", absl::StrCat("sleep 60 & echo $$ $! > ", pids, "; wait")}, {"PATH=/usr/bin:/bin"}, dir.path());
  std::unique_ptr<ProcessSpawner> spawner = NewPosixSpawner();
  SpawnSpec spec{ShellArgv(remote.command), {"PATH=/usr/bin:/bin"}, "", /*stdin_pipe=*/true, remote.stdin};
  absl::StatusOr<int64_t> shell = spawner->Spawn(spec);
  ASSERT_TRUE(shell.ok()) << shell.status();
  pid_t rank = 0, child = 0;
  for (int i = 0; i < 500 && rank == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    FILE* file = fopen(pids.c_str(), "r");
    if (file == nullptr) continue;
    if (fscanf(file, "%d %d", &rank, &child) != 2) rank = 0;
    fclose(file);
  }
  ASSERT_GT(rank, 0);
  EXPECT_EQ(kill(rank, 0), 0);
  EXPECT_EQ(getpgid(rank), rank);  // its own group, as setsid made it
  // What sshd does when the client goes away: the channel's stdin closes. Here: the outer sh
  // (our "sshd session") is killed alone and the pipe's write end closed with the reap.
  kill(static_cast<pid_t>(*shell), SIGKILL);
  std::optional<ChildExit> exit;
  for (int i = 0; i < 500 && !exit; ++i) {
    exit = spawner->TryReap(*shell);
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(exit.has_value());
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = kill(rank, 0) != 0 && kill(child, 0) != 0;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(gone) << "rank " << rank << " or its child " << child << " survived the closed channel";
}

TEST(SshSpawnerTest, LocalSpecsBypassSshAndSignalledRemoteExitsMapBack) {
  // A stand-in "ssh" that exits as ssh does when the remote rank was killed by SIGKILL (sh's
  // 128+9), and records its arguments.
  zt::testing::TempDir dir;
  const std::string fake = dir.Join("ssh");
  {
    std::ofstream script(fake);
    script << "#!/bin/sh\nprintf '%s\\n' \"$@\" > " << dir.Join("args") << "\nexit 137\n";
  }
  chmod(fake.c_str(), 0755);
  SshOptions options;
  options.ssh = fake;
  SshSpawner spawner(NewPosixSpawner(), options, "/", {"PATH=/usr/bin:/bin"});
  auto reap = [&spawner](int64_t pid) {
    std::optional<ChildExit> exit;
    while (!(exit = spawner.TryReap(pid))) absl::SleepFor(absl::Milliseconds(5));
    return *exit;
  };
  absl::StatusOr<int64_t> local = spawner.Spawn(SpawnSpec{{"/bin/sh", "-c", "exit 137"}, {}, ""});
  ASSERT_TRUE(local.ok());
  const ChildExit local_exit = reap(*local);
  EXPECT_EQ(local_exit.exit_code, 137);  // a local program's own exit code stays as it is
  absl::StatusOr<int64_t> remote = spawner.Spawn(SpawnSpec{{"/opt/w", "selftest"}, {"RANK=1"}, "node-1"});
  ASSERT_TRUE(remote.ok());
  const ChildExit remote_exit = reap(*remote);
  EXPECT_FALSE(remote_exit.exit_code.has_value());
  EXPECT_EQ(remote_exit.signal, 9);
  std::ifstream args(dir.Join("args"));
  std::string text((std::istreambuf_iterator<char>(args)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("BatchMode=yes\n"));
  EXPECT_THAT(text, HasSubstr("--\nnode-1\nexec sh -c "));
  EXPECT_THAT(text, HasSubstr("env -i '\\''RANK=1'\\'' '\\''/opt/w'\\'' '\\''selftest'\\''"));
}

}  // namespace
}  // namespace zt::launch
