// The job state machine with a fake clock: rendezvous, node-major ranks, duplicate devices,
// heartbeat timeouts, the restart budget, preemption and the root cause.
#include "coordinator/job_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coordinator/clock.h"
#include "coordinator/protocol.h"

namespace zt::coordinator {
namespace {

using ::testing::HasSubstr;

JobOptions Options(int world_size, int max_restarts = 0) {
  JobOptions options;
  options.job_id = "job";
  options.world_size = world_size;
  options.heartbeat_interval = absl::Seconds(1);
  options.heartbeat_timeout = absl::Seconds(5);
  options.max_restarts = max_restarts;
  return options;
}

Registration Reg(const std::string& host, int device, int64_t pid) {
  return Registration{host, device, pid, "10.0.0." + std::to_string(pid % 250)};
}

class JobStateTest : public ::testing::Test {
 protected:
  // Registers `hosts[i]` with device `devices[i]`; the last completes the rendezvous.
  void RegisterAll(JobState& job, const std::vector<std::pair<std::string, int>>& ranks) {
    int64_t pid = 100;
    for (const auto& [host, device] : ranks) {
      ASSERT_TRUE(job.Register(job.generation(), Reg(host, device, pid++), clock_.Now()).ok());
    }
  }
  FakeClock clock_;
};

TEST_F(JobStateTest, PendingRendezvousRunning) {
  JobState job(Options(2), clock_.Now());
  EXPECT_EQ(job.phase(), JobPhase::kPending);
  ASSERT_TRUE(job.Register(0, Reg("a", 0, 1), clock_.Now()).ok());
  EXPECT_EQ(job.phase(), JobPhase::kRendezvous);
  EXPECT_FALSE(job.rendezvous_complete());
  ASSERT_TRUE(job.Register(0, Reg("a", 1, 2), clock_.Now()).ok());
  EXPECT_EQ(job.phase(), JobPhase::kRunning);
  EXPECT_TRUE(job.rendezvous_complete());
}

TEST_F(JobStateTest, RanksAreNodeMajorInHostfileOrder) {
  JobOptions options = Options(4);
  options.node_order = {"n2", "n1"};
  JobState job(options, clock_.Now());
  RegisterAll(job, {{"n1", 1}, {"n2", 1}, {"n1", 0}, {"n2", 0}});
  // slot order: n1/1, n2/1, n1/0, n2/0 → ranks n2/0=0, n2/1=1, n1/0=2, n1/1=3.
  EXPECT_EQ(job.slot(0).rank, 3);
  EXPECT_EQ(job.slot(1).rank, 1);
  EXPECT_EQ(job.slot(2).rank, 2);
  EXPECT_EQ(job.slot(3).rank, 0);
  EXPECT_EQ(job.slot(0).local_rank, 1);
  EXPECT_EQ(job.slot(0).node_rank, 1);
  EXPECT_EQ(job.slot(3).node_rank, 0);
  EXPECT_EQ(job.slot(2).local_world_size, 2);
}

TEST_F(JobStateTest, UnlistedHostsSortByNameAfterListedOnes) {
  JobOptions options = Options(3);
  options.node_order = {"z"};
  JobState job(options, clock_.Now());
  RegisterAll(job, {{"b", 0}, {"a", 0}, {"z", 0}});
  EXPECT_EQ(job.slot(2).rank, 0);  // z listed first
  EXPECT_EQ(job.slot(1).rank, 1);  // then a
  EXPECT_EQ(job.slot(0).rank, 2);  // then b
}

TEST_F(JobStateTest, DuplicateHostDeviceIsRejectedNamingBothPids) {
  JobState job(Options(2), clock_.Now());
  ASSERT_TRUE(job.Register(0, Reg("node", 3, 11), clock_.Now()).ok());
  absl::StatusOr<int> second = job.Register(0, Reg("node", 3, 12), clock_.Now());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("'node' device 3 (pid 12)"));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("pid 11"));
  EXPECT_EQ(job.phase(), JobPhase::kRendezvous);
}

// A participant that left before the rendezvous (its call timed out, or its process died)
// no longer holds its (host, device) pair: the retry, or the restarted process, gets in and
// the ranks are assigned over the live participants only.
TEST_F(JobStateTest, WithdrawnParticipantIsExpiredBeforeTheRendezvous) {
  JobState job(Options(2), clock_.Now());
  ASSERT_EQ(*job.Register(0, Reg("node", 0, 11), clock_.Now()), 0);
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(job.Withdraw(0, clock_.Now()));
  EXPECT_EQ(job.registered(), 0);
  EXPECT_EQ(job.phase(), JobPhase::kPending);
  EXPECT_FALSE(job.Withdraw(0, clock_.Now()));  // nothing left to withdraw
  // The restarted process (new pid) and its peer.
  ASSERT_EQ(*job.Register(0, Reg("node", 1, 21), clock_.Now()), 0);
  ASSERT_EQ(*job.Register(0, Reg("node", 0, 12), clock_.Now()), 1);
  EXPECT_EQ(job.phase(), JobPhase::kRunning);
  EXPECT_EQ(job.slot(1).registration.pid, 12);
  EXPECT_EQ(job.slot(1).rank, 0);
  EXPECT_FALSE(job.Withdraw(0, clock_.Now()));  // members are failed, never withdrawn
  EXPECT_EQ(job.registered(), 2);
}

TEST_F(JobStateTest, WithdrawMovesLaterSlotsDown) {
  JobState job(Options(3), clock_.Now());
  ASSERT_TRUE(job.Register(0, Reg("a", 0, 1), clock_.Now()).ok());
  ASSERT_TRUE(job.Register(0, Reg("a", 1, 2), clock_.Now()).ok());
  EXPECT_TRUE(job.Withdraw(0, clock_.Now()));
  EXPECT_EQ(job.phase(), JobPhase::kRendezvous);
  EXPECT_EQ(job.slot(0).registration.pid, 2);
  // Its own retry with the same pid is no duplicate.
  EXPECT_EQ(*job.Register(0, Reg("a", 0, 1), clock_.Now()), 1);
}

TEST_F(JobStateTest, StaleGenerationIsAborted) {
  JobState job(Options(1), clock_.Now());
  EXPECT_EQ(job.Register(3, Reg("a", 0, 1), clock_.Now()).status().code(),
            absl::StatusCode::kAborted);
}

TEST_F(JobStateTest, WorldFullIsResourceExhausted) {
  JobState job(Options(1), clock_.Now());
  RegisterAll(job, {{"a", 0}});
  EXPECT_EQ(job.Register(0, Reg("a", 1, 9), clock_.Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);  // running admits nobody
}

TEST_F(JobStateTest, SilentRankFailsAfterTheTimeoutNotBefore) {
  JobState job(Options(2), clock_.Now());
  RegisterAll(job, {{"a", 0}, {"a", 1}});
  clock_.Advance(absl::Seconds(4));
  ASSERT_TRUE(job.Heartbeat(0, 0, 7, clock_.Now()).ok());
  clock_.Advance(absl::Seconds(1));
  job.Tick(clock_.Now());  // rank 1 silent for exactly 5 s: still alive
  EXPECT_EQ(job.phase(), JobPhase::kRunning);
  clock_.Advance(absl::Milliseconds(1));
  job.Tick(clock_.Now());
  EXPECT_EQ(job.phase(), JobPhase::kFailed);
  ASSERT_NE(job.RootCause(), nullptr);
  EXPECT_EQ(job.RootCause()->rank, 1);
  EXPECT_THAT(job.RootCause()->reason, HasSubstr("no heartbeat"));
  std::vector<proto::JobEvent> events = job.TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), proto::JobEvent::ABORT);
  EXPECT_EQ(events[0].step(), 7);
}

TEST_F(JobStateTest, RestartBudgetIsJobWide) {
  JobState job(Options(2, /*max_restarts=*/1), clock_.Now());
  RegisterAll(job, {{"a", 0}, {"a", 1}});
  RankFailure failure;
  failure.rank = 0;
  failure.time = clock_.Now();
  job.RankFailed(failure);
  EXPECT_EQ(job.phase(), JobPhase::kRestarting);
  EXPECT_THAT(job.TakeEvents()[0].reason(), HasSubstr("restart 1 of 1"));
  ASSERT_TRUE(job.BeginNextGeneration(clock_.Now()).ok());
  EXPECT_EQ(job.generation(), 1);
  EXPECT_EQ(job.phase(), JobPhase::kPending);
  RegisterAll(job, {{"a", 0}, {"a", 1}});
  job.RankFailed(failure);
  EXPECT_EQ(job.phase(), JobPhase::kFailed);
  EXPECT_EQ(job.restart_count(), 1);
  EXPECT_EQ(job.BeginNextGeneration(clock_.Now()).code(), absl::StatusCode::kFailedPrecondition);
}

// A rank that refused its input (exit status 2, e.g. --gradient_accumulation_steps 0) would fail
// the same way again: the job fails at once, restarts left or not.
TEST_F(JobStateTest, BadInputIsNotRestarted) {
  JobState job(Options(2, /*max_restarts=*/2), clock_.Now());
  RegisterAll(job, {{"a", 0}, {"a", 1}});
  RankFailure failure;
  failure.rank = 1;
  failure.time = clock_.Now();
  failure.exit_code = kExitBadInput;
  failure.reason = "exitcode 2";
  job.RankFailed(failure);
  EXPECT_EQ(job.phase(), JobPhase::kFailed);
  EXPECT_EQ(job.restart_count(), 0);
  EXPECT_THAT(job.TakeEvents()[0].reason(), HasSubstr("not restarted: exit status 2 means bad input"));
  // Any other exit status still restarts.
  JobState other(Options(2, /*max_restarts=*/2), clock_.Now());
  RegisterAll(other, {{"a", 0}, {"a", 1}});
  failure.exit_code = 1;
  other.RankFailed(failure);
  EXPECT_EQ(other.phase(), JobPhase::kRestarting);
}

TEST_F(JobStateTest, NoRestartWhenTheCoordinatorDidNotStartTheRanks) {
  JobOptions options = Options(1, 3);
  options.can_restart = false;
  JobState job(options, clock_.Now());
  RegisterAll(job, {{"a", 0}});
  RankFailure failure;
  failure.rank = 0;
  job.RankFailed(failure);
  EXPECT_EQ(job.phase(), JobPhase::kFailed);
}

TEST_F(JobStateTest, RootCauseIsTheRankSilentLongest) {
  JobState job(Options(3), clock_.Now());
  RegisterAll(job, {{"a", 0}, {"a", 1}, {"a", 2}});
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(job.Heartbeat(0, 0, 1, clock_.Now()).ok());
  ASSERT_TRUE(job.Heartbeat(0, 2, 1, clock_.Now()).ok());  // rank 1 went silent 2 s earlier
  clock_.Advance(absl::Seconds(10));
  job.Tick(clock_.Now());  // all three are past the timeout now
  ASSERT_NE(job.RootCause(), nullptr);
  EXPECT_EQ(job.RootCause()->rank, 1);
  EXPECT_EQ(job.RootCause()->host, "a");
}

TEST_F(JobStateTest, FailuresAfterTheAbortAreNotCauses) {
  JobState job(Options(2), clock_.Now());
  RegisterAll(job, {{"a", 0}, {"a", 1}});
  RankFailure first;
  first.rank = 1;
  first.pid = 101;
  first.time = clock_.Now() + absl::Seconds(1);
  job.RankFailed(first);
  RankFailure consequence;  // e.g. a collective that failed because of the abort
  consequence.rank = 0;
  consequence.time = first.time + absl::Milliseconds(5);
  job.RankFailed(consequence);
  EXPECT_EQ(job.RootCause()->rank, 1);
  EXPECT_EQ(job.failures().size(), 1u);
  job.NoteProcessExit(101, std::nullopt, 9);  // how the failed process ended, learned later
  EXPECT_EQ(*job.RootCause()->signal, 9);
}

// The finding: rank 0 hit ENOSPC first, but rank 1's report (its collective broke) reached
// the coordinator first and was named the root cause. The first failure in time is.
TEST_F(JobStateTest, EarlierFailureReportedLaterIsTheRootCause) {
  JobState job(Options(2), clock_.Now());
  RegisterAll(job, {{"a", 0}, {"a", 1}});
  RankFailure consequence;
  consequence.rank = 1;
  consequence.pid = 101;
  consequence.time = clock_.Now() + absl::Milliseconds(40);
  consequence.reason = "reported an error";
  job.RankFailed(consequence);
  ASSERT_EQ(job.phase(), JobPhase::kFailed);
  RankFailure cause;
  cause.rank = 0;
  cause.pid = 100;
  cause.time = clock_.Now() + absl::Milliseconds(10);
  cause.reason = "reported an error";
  job.RankFailed(cause);
  ASSERT_NE(job.RootCause(), nullptr);
  EXPECT_EQ(job.RootCause()->rank, 0);
  EXPECT_EQ(job.RootCause()->host, "a");
  job.NoteProcessExit(101, 76, std::nullopt, "/errors/rank1.json");
  job.NoteProcessExit(100, 1, std::nullopt, "/errors/rank0.json");
  EXPECT_EQ(*job.RootCause()->exit_code, 1);
  EXPECT_EQ(job.RootCause()->error_file, "/errors/rank0.json");
  EXPECT_EQ(job.TakeEvents().size(), 1u);  // one abort, from the first report
  // The same process seen again (its exit) is no new failure.
  RankFailure again = cause;
  again.time = cause.time - absl::Milliseconds(1);
  EXPECT_FALSE(job.EarlierFailure(again));
}

TEST_F(JobStateTest, PeerDeathSoonAfterAReportedErrorIsItsCause) {
  JobState job(Options(2), clock_.Now());
  RegisterAll(job, {{"a", 0}, {"a", 1}});
  RankFailure reported;  // rank 0's collective saw rank 1's socket close
  reported.rank = 0;
  reported.time = clock_.Now();
  reported.reason = "connection reset by peer";
  job.RankFailed(reported);
  RankFailure death;
  death.rank = 1;
  death.pid = 101;
  death.signal = 9;
  death.observed_exit = true;
  death.time = clock_.Now() + absl::Milliseconds(30);
  job.LateProcessDeath(death, absl::Seconds(1));
  EXPECT_EQ(job.RootCause()->rank, 1);
  EXPECT_EQ(*job.RootCause()->signal, 9);
  RankFailure much_later = death;  // outside the settle window: teardown noise
  much_later.rank = 0;
  much_later.pid = 100;
  much_later.time = clock_.Now() + absl::Seconds(3);
  job.LateProcessDeath(much_later, absl::Seconds(1));
  EXPECT_EQ(job.failures().size(), 2u);
}

// The e2e finding (kill -9 of rank 2 of 4): the reporter aborted (exit 76) and was reaped before
// the killed rank, so its report carried an exit code by the time the death came in.
TEST_F(JobStateTest, PeerDeathAfterTheReporterExitedIsStillTheCause) {
  JobState job(Options(2), clock_.Now());
  RegisterAll(job, {{"a", 0}, {"a", 1}});
  RankFailure reported;
  reported.rank = 0;
  reported.pid = 100;
  reported.time = clock_.Now();
  reported.reason = "reported an error";
  job.RankFailed(reported);
  job.NoteProcessExit(100, 76, std::nullopt);  // its abort after the report
  RankFailure death;
  death.rank = 1;
  death.pid = 101;
  death.signal = 9;
  death.observed_exit = true;
  death.time = clock_.Now() + absl::Milliseconds(60);
  job.LateProcessDeath(death, kDeathSettle);
  EXPECT_EQ(job.RootCause()->rank, 1);
  EXPECT_EQ(*job.RootCause()->signal, 9);
}

// The other order: the launcher saw the death first, then the peer's report arrived with an
// error-file stamp a little before the death was observed (the launcher reaps later than a
// socket closes). The death stays the cause; a report well before it is still the first failure.
TEST_F(JobStateTest, ReportedErrorJustBeforeAnObservedDeathIsItsConsequence) {
  JobState job(Options(3), clock_.Now());
  RegisterAll(job, {{"a", 0}, {"a", 1}, {"a", 2}});
  RankFailure death;
  death.rank = 2;
  death.pid = 102;
  death.signal = 9;
  death.observed_exit = true;
  death.time = clock_.Now() + absl::Milliseconds(100);
  job.RankFailed(death);
  RankFailure consequence;
  consequence.rank = 1;
  consequence.pid = 101;
  consequence.time = clock_.Now() + absl::Milliseconds(20);
  consequence.reason = "reported an error";
  EXPECT_FALSE(job.EarlierFailure(consequence));
  EXPECT_EQ(job.RootCause()->rank, 2);
  RankFailure earlier = consequence;  // more than kDeathSettle before: the first failure
  earlier.rank = 0;
  earlier.pid = 100;
  earlier.time = death.time - kDeathSettle - absl::Milliseconds(1);
  EXPECT_TRUE(job.EarlierFailure(earlier));
  EXPECT_EQ(job.RootCause()->rank, 0);
}

TEST_F(JobStateTest, CheckpointStopIsOneStepPastTheHighestReported) {
  JobState job(Options(2), clock_.Now());
  RegisterAll(job, {{"a", 0}, {"a", 1}});
  ASSERT_TRUE(job.Heartbeat(0, 0, 4, clock_.Now()).ok());
  ASSERT_TRUE(job.Heartbeat(0, 1, 5, clock_.Now()).ok());
  EXPECT_EQ(*job.RequestCheckpointStop("SIGTERM"), 6);
  EXPECT_EQ(*job.RequestCheckpointStop("again"), 6);  // one decision per generation
  std::vector<proto::JobEvent> events = job.TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), proto::JobEvent::CHECKPOINT_AND_STOP);
  job.RankStopped(0);
  EXPECT_EQ(job.phase(), JobPhase::kRunning);
  job.RankStopped(1);
  EXPECT_EQ(job.phase(), JobPhase::kStopped);
}

TEST_F(JobStateTest, StopBeforeTheRendezvousStopsAtTheFirstStep) {
  JobState job(Options(2), clock_.Now());
  EXPECT_EQ(*job.RequestCheckpointStop("SIGTERM while starting"), 1);
  RankFailure failure;
  failure.rank = 0;
  job.RankFailed(failure);
  EXPECT_EQ(job.RequestCheckpointStop("again").status().code(), absl::StatusCode::kOk);  // kept
  JobState over(Options(1), clock_.Now());
  over.Abort("x", clock_.Now());
  EXPECT_EQ(over.RequestCheckpointStop("late").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(JobStateTest, SucceedsWhenEveryRankFinished) {
  JobState job(Options(2), clock_.Now());
  RegisterAll(job, {{"a", 0}, {"a", 1}});
  job.RankFinished(1);
  clock_.Advance(absl::Seconds(60));
  job.Tick(clock_.Now());  // rank 1 stopped heartbeating because it finished: not a failure
  EXPECT_EQ(job.phase(), JobPhase::kFailed);  // rank 0 is silent, though
  JobState ok(Options(2), clock_.Now());
  RegisterAll(ok, {{"a", 0}, {"a", 1}});
  ok.RankFinished(0);
  ok.RankFinished(1);
  EXPECT_EQ(ok.phase(), JobPhase::kSucceeded);
  EXPECT_EQ(ok.TakeEvents().back().kind(), proto::JobEvent::SUCCEEDED);
}

}  // namespace
}  // namespace zt::coordinator
