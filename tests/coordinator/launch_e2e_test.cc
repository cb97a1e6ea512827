// End to end through the real CLIs: `zerotune launch` starts the coordinator and 4
// `zerotune-worker selftest` ranks on loopback, which register, rendezvous a Gloo communicator
// through the coordinator's store, all-reduce a counter each step, barrier and checkpoint.
// Failure detection, restart, preemption and failure reports are measured on real processes.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coordinator/coordinator_client.h"
#include "coordinator/job_file.h"
#include "coordinator/protocol.h"
#include "tests/coordinator/coordinator_harness.h"
#include "tests/support/temp_dir.h"

namespace zt::coordinator {
namespace {

using ::testing::HasSubstr;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int Count(const std::string& text, const std::string& needle) {
  int count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

// One child process (own process group) with stdout+stderr in a file; killed on destruction.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& log,
        const std::vector<std::string>& extra_env = {})
      : log_(log) {
    std::vector<std::string> env;
    for (char** entry = environ; *entry != nullptr; ++entry) env.emplace_back(*entry);
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> args, envp;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execve(args[0], args.data(), envp.data());
      _exit(127);
    }
  }
  ~Child() {
    if (!exited_) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // The exit code (or 128+signal), or -1 when it is still running at `deadline`.
  int Wait(absl::Time deadline) {
    while (absl::Now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return -1;
  }
  std::string output() const { return Slurp(log_); }

 private:
  std::string log_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

bool Alive(int64_t pid) { return kill(static_cast<pid_t>(pid), 0) == 0; }

class LaunchE2eTest : public ::testing::Test {
 protected:
  // zerotune launch --nproc_per_node 4 ... -- selftest ...
  std::unique_ptr<Child> Launch(const std::vector<std::string>& launch_flags,
                                const std::vector<std::string>& selftest_flags) {
    std::vector<std::string> argv = {ZT_ZEROTUNE_BIN, "launch", "--nproc_per_node", "4",
                                     "--worker", ZT_WORKER_BIN};
    argv.insert(argv.end(), launch_flags.begin(), launch_flags.end());
    argv.insert(argv.end(), {"--", "selftest", "--output_dir", dir_.path()});
    argv.insert(argv.end(), selftest_flags.begin(), selftest_flags.end());
    return std::make_unique<Child>(argv, dir_.Join("launch.log"));
  }

  // Polls the job's status (through its job file) until `done` or `timeout`.
  absl::StatusOr<proto::GetStatusReply> AwaitStatus(
      const std::function<bool(const proto::GetStatusReply&)>& done, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    absl::Status last = absl::DeadlineExceededError("no status yet");
    while (absl::Now() < deadline) {
      absl::StatusOr<JobFile> job = ReadJobFile(dir_.path());
      if (job.ok()) {
        auto client = CoordinatorClient::Connect(ClientOptionsFor(*job));
        absl::StatusOr<proto::GetStatusReply> status = (*client)->GetStatus();
        if (status.ok() && done(*status)) return status;
        if (!status.ok()) last = status.status();
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return last;
  }

  zt::testing::TempDir dir_;
};

TEST_F(LaunchE2eTest, FourRanksRegisterRendezvousBarrierAndFinish) {
  auto launch = Launch({}, {"--steps", "12", "--save_every", "4", "--step_ms", "5"});
  const int code = launch->Wait(absl::Now() + absl::Seconds(120));
  const std::string output = launch->output();
  ASSERT_EQ(code, 0) << output;
  EXPECT_EQ(Count(output, "selftest done: step 12 counter 48"), 4) << output;
  EXPECT_THAT(output, HasSubstr("rendezvous of 4 ranks complete"));
  EXPECT_EQ(Slurp(dir_.Join("selftest/latest")), "12\n");
  EXPECT_EQ(Count(Slurp(dir_.Join("metrics.jsonl")), "\n"), 12);
  EXPECT_THAT(Slurp(dir_.Join("trainer_state.json")), HasSubstr("\"global_step\": 12"));
  EXPECT_EQ(Count(Slurp(dir_.Join("metrics.csv")), "\n"), 13);
}

TEST_F(LaunchE2eTest, KillNineRestartsEveryRankAndTheCounterContinues) {
  const absl::Duration timeout = absl::Seconds(2);
  auto launch = Launch({"--heartbeat_interval_ms", "200", "--heartbeat_timeout_ms", "2000",
                        "--max_restarts", "1", "--abort_grace_ms", "3000"},
                       {"--steps", "40", "--save_every", "5", "--step_ms", "40"});
  absl::StatusOr<proto::GetStatusReply> running = AwaitStatus(
      [](const proto::GetStatusReply& s) { return s.step() >= 12 && s.ranks_size() == 4; },
      absl::Seconds(60));
  ASSERT_TRUE(running.ok()) << running.status() << launch->output();
  std::vector<int64_t> others;
  int64_t victim = 0;
  for (const proto::RankStatus& rank : running->ranks()) {
    (rank.rank() == 2 ? victim : others.emplace_back()) = rank.pid();
  }
  const absl::Time killed = absl::Now();
  ASSERT_EQ(kill(static_cast<pid_t>(victim), SIGKILL), 0);
  absl::Duration all_exited = absl::InfiniteDuration();
  while (absl::Now() - killed < 4 * timeout) {
    bool any = false;
    for (int64_t pid : others) any = any || Alive(pid);
    if (!any) {
      all_exited = absl::Now() - killed;
      break;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_LT(all_exited, 2 * timeout) << launch->output();
  absl::StatusOr<proto::GetStatusReply> restarted = AwaitStatus(
      [](const proto::GetStatusReply& s) { return s.generation() == 1 && s.state() == "running"; },
      absl::Seconds(60));
  ASSERT_TRUE(restarted.ok()) << restarted.status() << launch->output();
  const absl::Duration restart = absl::Now() - killed;
  // The killed rank is the root cause, not a peer whose collective saw its socket close.
  EXPECT_THAT(restarted->failure_report(), HasSubstr("rank      : 2")) << restarted->failure_report();
  EXPECT_THAT(restarted->failure_report(), HasSubstr("Signal 9 (SIGKILL)"));
  std::cout << "[ measured ] kill -9 → every other rank exited: " << absl::FormatDuration(all_exited)
            << "; → all 4 ranks re-registered (generation 1 running): "
            << absl::FormatDuration(restart) << "\n";
  const int code = launch->Wait(absl::Now() + absl::Seconds(120));
  const std::string output = launch->output();
  ASSERT_EQ(code, 0) << output;
  EXPECT_EQ(Count(output, "selftest done: step 40 counter 160"), 4) << output;
  EXPECT_THAT(output, HasSubstr("restarting every rank as generation 1"));
  EXPECT_THAT(output, HasSubstr("after 1 restart(s)"));
  EXPECT_THAT(output, ::testing::ContainsRegex("generation 1, resuming at step (1[05]|[2-3][05])"));
}

TEST_F(LaunchE2eTest, SilentRankIsDetectedByHeartbeatTimeout) {
  const absl::Duration timeout = absl::Seconds(1);
  auto launch = Launch({"--heartbeat_interval_ms", "100", "--heartbeat_timeout_ms", "1000",
                        "--abort_grace_ms", "500"},
                       {"--steps", "400", "--save_every", "1000", "--step_ms", "20"});
  absl::StatusOr<proto::GetStatusReply> running = AwaitStatus(
      [](const proto::GetStatusReply& s) { return s.step() >= 5 && s.ranks_size() == 4; },
      absl::Seconds(60));
  ASSERT_TRUE(running.ok()) << running.status() << launch->output();
  std::vector<int64_t> others;
  int64_t victim = 0;
  for (const proto::RankStatus& rank : running->ranks()) {
    (rank.rank() == 1 ? victim : others.emplace_back()) = rank.pid();
  }
  const absl::Time stopped = absl::Now();
  ASSERT_EQ(kill(static_cast<pid_t>(victim), SIGSTOP), 0);  // alive but silent
  const int code = launch->Wait(absl::Now() + absl::Seconds(30));
  const absl::Duration detected = absl::Now() - stopped;
  const std::string output = launch->output();
  EXPECT_EQ(code, 1) << output;
  EXPECT_LT(detected, 2 * timeout + absl::Milliseconds(500)) << output;  // + the kill grace
  EXPECT_THAT(output, HasSubstr("rank      : 1")) << output;
  EXPECT_THAT(output, HasSubstr("no heartbeat"));
  for (int64_t pid : others) EXPECT_FALSE(Alive(pid));
  std::cout << "[ measured ] SIGSTOP of a rank → job failed and every rank gone: "
            << absl::FormatDuration(detected) << " (heartbeat timeout 1s, grace 0.5s)\n";
}

TEST_F(LaunchE2eTest, SigtermOnOneRankCheckpointsEveryRankAtTheSameStep) {
  auto launch = Launch({"--heartbeat_interval_ms", "100"},
                       {"--steps", "1000", "--save_every", "100000", "--step_ms", "20"});
  absl::StatusOr<proto::GetStatusReply> running = AwaitStatus(
      [](const proto::GetStatusReply& s) { return s.step() >= 5 && s.ranks_size() == 4; },
      absl::Seconds(60));
  ASSERT_TRUE(running.ok()) << running.status() << launch->output();
  ASSERT_EQ(kill(static_cast<pid_t>(running->ranks(3).pid()), SIGTERM), 0);
  const int code = launch->Wait(absl::Now() + absl::Seconds(60));
  const std::string output = launch->output();
  ASSERT_EQ(code, kExitPreempted) << output;
  const std::string latest = Slurp(dir_.Join("selftest/latest"));
  ASSERT_FALSE(latest.empty()) << output;
  const int64_t step = std::stoll(latest);
  EXPECT_GT(step, 5);
  for (int rank = 0; rank < 4; ++rank) {
    const std::string file = Slurp(dir_.Join(absl::StrCat("selftest/step-", step, "/rank-", rank, ".json")));
    EXPECT_THAT(file, HasSubstr(absl::StrCat("\"step\":", step))) << rank;
    EXPECT_THAT(file, HasSubstr(absl::StrCat("\"counter\":", 4 * step))) << rank;
  }
  EXPECT_EQ(Count(output, "checkpointed at step " + std::to_string(step) + ", stopping"), 4) << output;
  EXPECT_THAT(output, HasSubstr("stopped"));
}

TEST_F(LaunchE2eTest, FailureReportNamesTheFirstFailedRankAndItsErrorFile) {
  auto launch = Launch({"--abort_grace_ms", "1000"},
                       {"--steps", "50", "--save_every", "100", "--step_ms", "10",
                        "--fail_at_step", "3", "--fail_rank", "2"});
  const int code = launch->Wait(absl::Now() + absl::Seconds(60));
  const std::string output = launch->output();
  EXPECT_EQ(code, 1) << output;
  EXPECT_THAT(output, HasSubstr("Root Cause (first observed failure)"));
  EXPECT_THAT(output, HasSubstr("rank      : 2"));
  // The finding: the message was printed four times; error_file is a path.
  EXPECT_EQ(Count(output, "injected failure at step 3"), 2) << output;  // the rank's line + report
  EXPECT_THAT(output,
              HasSubstr("message   : [rank 2] INTERNAL: selftest: injected failure at step 3"));
  EXPECT_THAT(output, HasSubstr(absl::StrCat("error_file: ", dir_.path(),
                                             "/.zerotune/errors/rank2.json\n")));
  EXPECT_THAT(output, HasSubstr("no restarts left"));
}

// `zerotune serve` with ranks it did not start (as under srun/mpirun): ranks join with the
// address and token from the job files; when one dies the other is aborted within twice the
// heartbeat timeout and exits non-zero (nobody to restart it), and serve reports the cause.
TEST_F(LaunchE2eTest, ServeAbortsRanksItDidNotStartWhenOneDies) {
  Child serve({ZT_ZEROTUNE_BIN, "serve", "--world_size", "2", "--job_dir", dir_.path(),
               "--heartbeat_interval_ms", "100", "--heartbeat_timeout_ms", "1000"},
              dir_.Join("serve.log"));
  absl::StatusOr<JobFile> job = absl::NotFoundError("no job file yet");
  for (int i = 0; i < 500 && !job.ok(); ++i, absl::SleepFor(absl::Milliseconds(20))) {
    job = ReadJobFile(dir_.path());
  }
  ASSERT_TRUE(job.ok()) << job.status() << serve.output();
  std::vector<std::unique_ptr<Child>> ranks;
  for (int local = 0; local < 2; ++local) {
    ranks.push_back(std::make_unique<Child>(
        std::vector<std::string>{ZT_WORKER_BIN, "selftest", "--steps", "100000", "--step_ms", "10",
                                 "--save_every", "1000000", "--output_dir", dir_.path()},
        dir_.Join(absl::StrCat("rank", local, ".log")),
        std::vector<std::string>{absl::StrCat(kEnvCoordinator, "=", job->address),
                                 absl::StrCat(kEnvToken, "=", job->token),
                                 absl::StrCat("LOCAL_RANK=", local)}));
  }
  absl::StatusOr<proto::GetStatusReply> running = AwaitStatus(
      [](const proto::GetStatusReply& s) { return s.step() >= 5 && s.ranks_size() == 2; },
      absl::Seconds(60));
  ASSERT_TRUE(running.ok()) << running.status() << serve.output();
  const absl::Time killed = absl::Now();
  ASSERT_EQ(kill(ranks[0]->pid(), SIGKILL), 0);
  // The survivor learns it either from its broken collective or from the coordinator's abort.
  const int survivor = ranks[1]->Wait(absl::Now() + absl::Seconds(10));
  EXPECT_THAT(survivor, ::testing::AnyOf(1, kExitAborted)) << ranks[1]->output();
  const absl::Duration detected = absl::Now() - killed;
  EXPECT_LT(detected, absl::Seconds(2));
  EXPECT_EQ(serve.Wait(absl::Now() + absl::Seconds(10)), 1) << serve.output();
  EXPECT_THAT(serve.output(), HasSubstr("Root Cause (first observed failure)"));
  std::cout << "[ measured ] serve: kill -9 of a rank → the other rank exited: "
            << absl::FormatDuration(detected) << " (heartbeat timeout 1s)\n";
}

// `zerotune serve --job_dir` until its job file is there; nullopt-like error otherwise.
absl::StatusOr<JobFile> AwaitJobFile(const std::string& dir) {
  absl::StatusOr<JobFile> job = absl::NotFoundError("no job file yet");
  for (int i = 0; i < 500 && !job.ok(); ++i, absl::SleepFor(absl::Milliseconds(20))) {
    job = ReadJobFile(dir);
  }
  return job;
}

// The finding: the first SIGTERM to a serve that no rank joined yet was ignored silently.
TEST_F(LaunchE2eTest, SigtermStopsAServeWithNoRanksSayingSo) {
  Child serve({ZT_ZEROTUNE_BIN, "serve", "--world_size", "2", "--job_dir", dir_.path()},
              dir_.Join("serve.log"));
  ASSERT_TRUE(AwaitJobFile(dir_.path()).ok()) << serve.output();
  ASSERT_EQ(kill(serve.pid(), SIGTERM), 0);
  EXPECT_EQ(serve.Wait(absl::Now() + absl::Seconds(5)), kExitPreempted) << serve.output();
  EXPECT_THAT(serve.output(), HasSubstr("stopped by a signal before any rank registered"));
}

// The finding with real processes: rank 0 killed -9 while it waits for the rendezvous, then
// both ranks (re)started: the rendezvous is with the live rank 0, not the dead one.
TEST_F(LaunchE2eTest, RankKilledBeforeTheRendezvousIsReplacedByItsRestart) {
  Child serve({ZT_ZEROTUNE_BIN, "serve", "--world_size", "2", "--job_dir", dir_.path(),
               "--heartbeat_interval_ms", "100", "--heartbeat_timeout_ms", "2000"},
              dir_.Join("serve.log"));
  absl::StatusOr<JobFile> job = AwaitJobFile(dir_.path());
  ASSERT_TRUE(job.ok()) << job.status() << serve.output();
  auto start_rank = [&](int local, const std::string& log) {
    return std::make_unique<Child>(
        std::vector<std::string>{ZT_WORKER_BIN, "selftest", "--steps", "5", "--step_ms", "5",
                                 "--save_every", "1000", "--output_dir", dir_.path()},
        dir_.Join(log),
        std::vector<std::string>{absl::StrCat(kEnvCoordinator, "=", job->address),
                                 absl::StrCat(kEnvToken, "=", job->token),
                                 absl::StrCat("LOCAL_RANK=", local)});
  };
  auto ghost = start_rank(0, "ghost.log");
  ASSERT_TRUE(AwaitStatus([](const proto::GetStatusReply& s) { return s.ranks_size() == 1; },
                          absl::Seconds(30))
                  .ok())
      << serve.output();
  ASSERT_EQ(kill(ghost->pid(), SIGKILL), 0);
  EXPECT_GE(ghost->Wait(absl::Now() + absl::Seconds(5)), 128);
  ASSERT_TRUE(AwaitStatus([](const proto::GetStatusReply& s) { return s.ranks_size() == 0; },
                          absl::Seconds(5))
                  .ok())
      << serve.output();
  auto rank0 = start_rank(0, "rank0.log");
  auto rank1 = start_rank(1, "rank1.log");
  EXPECT_EQ(rank0->Wait(absl::Now() + absl::Seconds(60)), 0) << rank0->output();
  EXPECT_EQ(rank1->Wait(absl::Now() + absl::Seconds(60)), 0) << rank1->output();
  EXPECT_EQ(serve.Wait(absl::Now() + absl::Seconds(10)), 0) << serve.output();
  EXPECT_THAT(serve.output(), HasSubstr("from the rendezvous: its registration was cancelled"));
}

// The finding: two launches into one --output_dir both ran, interleaving metrics.jsonl.
TEST_F(LaunchE2eTest, SecondLaunchIntoTheSameOutputDirIsRefusedUntilTheFirstIsGone) {
  auto first = Launch({"--job_id", "first-job"},
                      {"--steps", "100000", "--save_every", "1000000", "--step_ms", "10"});
  ASSERT_TRUE(
      AwaitStatus([](const proto::GetStatusReply& s) { return s.step() >= 2; }, absl::Seconds(60))
          .ok())
      << first->output();
  const std::vector<std::string> argv = {
      ZT_ZEROTUNE_BIN, "launch", "--nproc_per_node", "1",        "--worker",
      ZT_WORKER_BIN,   "--",     "selftest",         "--steps",  "3",
      "--step_ms",     "1",      "--output_dir",     dir_.path()};
  Child second(argv, dir_.Join("second.log"));
  EXPECT_EQ(second.Wait(absl::Now() + absl::Seconds(10)), 1) << second.output();
  EXPECT_THAT(second.output(), HasSubstr(absl::StrCat("output_dir ", dir_.path(),
                                                      " is in use by job first-job (pid ")));
  // The first job was not disturbed: its job file still leads to it.
  absl::StatusOr<proto::GetStatusReply> still = AwaitStatus(
      [](const proto::GetStatusReply& s) { return s.job_id() == "first-job"; }, absl::Seconds(5));
  EXPECT_TRUE(still.ok()) << still.status();
  first.reset();  // kill -9 of its whole process group: the lock goes with it
  Child third(argv, dir_.Join("third.log"));
  EXPECT_EQ(third.Wait(absl::Now() + absl::Seconds(30)), 0) << third.output();
}

TEST_F(LaunchE2eTest, WorkerWithTheWrongTokenIsRejected) {
  JobOptions job;
  job.world_size = 1;
  auto harness = testing::Harness::Start(job);
  Child worker({ZT_WORKER_BIN, "selftest", "--output_dir", dir_.path()}, dir_.Join("worker.log"),
               {absl::StrCat(kEnvCoordinator, "=", harness->server->address()),
                absl::StrCat(kEnvToken, "=", "0123")});
  EXPECT_EQ(worker.Wait(absl::Now() + absl::Seconds(30)), 1);
  EXPECT_THAT(worker.output(), HasSubstr("wrong job token"));
  EXPECT_EQ(harness->server->service().phase(), JobPhase::kPending);
}

}  // namespace
}  // namespace zt::coordinator
