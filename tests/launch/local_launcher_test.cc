// The launcher's restart logic with a fake spawner and a fake clock: the environment contract,
// the abort grace before the process-group kill, the job-wide restart budget.
#include "launch/local_launcher.h"

#include <csignal>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "coordinator/clock.h"
#include "coordinator/coordinator_service.h"

namespace zt::launch {
namespace {

using ::testing::Contains;
using ::testing::Not;
using coordinator::CoordinatorService;
using coordinator::FakeClock;
using coordinator::JobPhase;
using coordinator::ServiceOptions;

NowFunction NowOf(FakeClock& clock) {
  return [&clock] { return clock.Now(); };
}

class FakeSpawner final : public ProcessSpawner {
 public:
  absl::StatusOr<int64_t> Spawn(const SpawnSpec& spec) override {
    specs.push_back(spec);
    const int64_t pid = next_pid++;
    running.insert(pid);
    return pid;
  }
  std::optional<ChildExit> TryReap(int64_t pid) override {
    auto it = exits.find(pid);
    if (it == exits.end()) return std::nullopt;
    ChildExit exit = it->second;
    exits.erase(it);
    running.erase(pid);
    return exit;
  }
  void SignalGroup(int64_t pid, int signal) override {
    signals.emplace_back(pid, signal);
    if (signal == SIGKILL && running.count(pid)) exits[pid] = ChildExit{std::nullopt, SIGKILL};
  }
  void Exit(int64_t pid, int code) { exits[pid] = ChildExit{code, std::nullopt}; }

  int64_t next_pid = 100;
  std::vector<SpawnSpec> specs;
  std::set<int64_t> running;
  std::map<int64_t, ChildExit> exits;
  std::vector<std::pair<int64_t, int>> signals;
};

LaunchOptions TwoLocalRanks() {
  LaunchOptions options;
  options.nproc_per_node = 2;
  options.worker_argv = {"zerotune-worker", "selftest"};
  options.base_env = {"PATH=/bin", "RANK=7", "TORCH_NCCL_ASYNC_ERROR_HANDLING=3"};
  options.coordinator_address = "127.0.0.1:4321";
  options.token = "secret";
  options.job_id = "j";
  options.max_restarts = 1;
  options.abort_grace = absl::Seconds(5);
  options.poll_interval = absl::ZeroDuration();
  return options;
}

TEST(RankProcessEnvironmentTest, SetsTorchrunContractAndDropsInheritedValues) {
  const std::vector<std::string> env = RankProcessEnvironment(TwoLocalRanks(), 1, 3);
  for (const char* entry :
       {"RANK=1", "LOCAL_RANK=1", "WORLD_SIZE=2", "LOCAL_WORLD_SIZE=2", "GROUP_RANK=0",
        "MASTER_ADDR=127.0.0.1", "MASTER_PORT=4321", "TORCHELASTIC_RESTART_COUNT=3",
        "TORCHELASTIC_MAX_RESTARTS=1", "TORCHELASTIC_RUN_ID=j", "ZEROTUNE_TOKEN=secret",
        "ZEROTUNE_COORDINATOR=127.0.0.1:4321", "PATH=/bin", "TORCH_NCCL_ASYNC_ERROR_HANDLING=3"}) {
    EXPECT_THAT(env, Contains(std::string(entry)));
  }
  EXPECT_THAT(env, Not(Contains(std::string("RANK=7"))));
  EXPECT_THAT(env, Not(Contains(std::string("TORCH_NCCL_ASYNC_ERROR_HANDLING=1"))));
}

TEST(LocalLauncherTest, FailureKillsSurvivorsAfterGraceThenRestartsWithinBudget) {
  FakeClock clock;
  ServiceOptions service_options;
  service_options.job.world_size = 2;
  service_options.job.max_restarts = 1;
  CoordinatorService service(service_options, &clock);
  FakeSpawner spawner;
  LocalLauncher launcher(TwoLocalRanks(), &service, &spawner, NowOf(clock));
  int polls = 0;
  absl::Time first_failure;
  const absl::Status run = launcher.Run([&] {
    ++polls;
    if (polls == 1) {
      spawner.Exit(100, 3);  // local rank 0 of generation 0 dies; 101 keeps running
      first_failure = clock.Now();
    }
    if (spawner.specs.size() == 4 && spawner.running.size() == 2) {
      spawner.Exit(102, 1);  // generation 1 fails too: no restarts left
      spawner.Exit(103, 1);
    }
    clock.Advance(absl::Seconds(1));
  });
  ASSERT_TRUE(run.ok()) << run;
  EXPECT_EQ(service.phase(), JobPhase::kFailed);
  ASSERT_EQ(spawner.specs.size(), 4u);
  EXPECT_THAT(spawner.specs[2].env, Contains(std::string("TORCHELASTIC_RESTART_COUNT=1")));
  EXPECT_THAT(spawner.specs[0].env, Contains(std::string("TORCHELASTIC_RESTART_COUNT=0")));
  for (const SpawnSpec& spec : spawner.specs) {
    for (const std::string& arg : spec.argv) EXPECT_FALSE(absl::StrContains(arg, "secret"));
  }
  // The survivor got exactly one SIGKILL to its process group, not before the grace.
  ASSERT_EQ(spawner.signals.size(), 1u);
  EXPECT_EQ(spawner.signals[0], std::make_pair(int64_t{101}, SIGKILL));
  EXPECT_EQ(service.Status().restart_count(), 1);
  const std::string report = service.FailureReport();
  EXPECT_THAT(report, ::testing::HasSubstr("exitcode 1"));
}

TEST(LocalLauncherTest, SurvivorsGetTheGraceBeforeTheKill) {
  FakeClock clock;
  ServiceOptions service_options;
  service_options.job.world_size = 2;
  CoordinatorService service(service_options, &clock);
  FakeSpawner spawner;
  LaunchOptions options = TwoLocalRanks();
  options.max_restarts = 0;
  LocalLauncher launcher(options, &service, &spawner, NowOf(clock));
  absl::Time failed_at = absl::InfiniteFuture();
  absl::Time killed_at = absl::InfiniteFuture();
  ASSERT_TRUE(launcher.Run([&] {
    if (failed_at == absl::InfiniteFuture()) {
      spawner.Exit(101, 9);
      failed_at = clock.Now();
    }
    if (!spawner.signals.empty() && killed_at == absl::InfiniteFuture()) killed_at = clock.Now();
    clock.Advance(absl::Milliseconds(500));
  }).ok());
  EXPECT_GE(killed_at - failed_at, absl::Seconds(5));
  EXPECT_LE(killed_at - failed_at, absl::Seconds(6));
}

}  // namespace
}  // namespace zt::launch
