// The job-control half of CoordinatorService: state transitions and their broadcasts, the
// periodic heartbeat check, status snapshots, and what the launcher in the same process calls.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "coordinator/coordinator_service.h"
#include "coordinator/failure_report.h"
#include "coordinator/protocol.h"
#include "coordinator/watch_reactor.h"

namespace zt::coordinator {

void CoordinatorService::Publish(const std::vector<proto::JobEvent>& events) {
  absl::MutexLock lock(&watchers_mu_);
  for (const proto::JobEvent& event : events) {
    history_.push_back(event);
    for (WatchReactor* watcher : watchers_) {
      watcher->Push(event, event.kind() == proto::JobEvent::SUCCEEDED);
    }
  }
}

void CoordinatorService::AfterTransition(Actions* actions) {
  std::vector<proto::JobEvent> events = job_.TakeEvents();
  const JobPhase phase = job_.phase();
  if (phase == JobPhase::kRestarting || phase == JobPhase::kFailed) {
    // Waiting registrations and barriers of the torn-down generation will never complete.
    const std::string reason = absl::StrCat("job '", job_.options().job_id, "' is ",
                                            JobPhaseName(phase), " after a rank failure");
    for (auto& [id, pending] : registers_) {
      if (pending->timer != 0) scheduler_.Cancel(pending->timer);
      grpc::ServerUnaryReactor* reactor = pending->reactor;
      actions->push_back([reactor, reason] {
        reactor->Finish(grpc::Status(grpc::StatusCode::ABORTED, reason));
      });
    }
    registers_.clear();
    for (auto& [key, arrivals] : barriers_) {
      for (auto& arrival : arrivals) {
        if (arrival->timer != 0) scheduler_.Cancel(arrival->timer);
        grpc::ServerUnaryReactor* reactor = arrival->reactor;
        actions->push_back([reactor, reason] {
          reactor->Finish(grpc::Status(grpc::StatusCode::ABORTED, reason));
        });
      }
    }
    barriers_.clear();
  }
  if (!events.empty()) Publish(events);
}

void CoordinatorService::Tick() {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    job_.Tick(clock_->Now());
    AfterTransition(&actions);
    const absl::Duration period =
        std::max(absl::Milliseconds(5), job_.options().heartbeat_interval / 4);
    tick_timer_ = scheduler_.Schedule(absl::Now() + period, [this] { Tick(); });
  }
  for (auto& action : actions) action();
}

void CoordinatorService::FillStatus(proto::GetStatusReply* reply) const {
  reply->set_job_id(job_.options().job_id);
  reply->set_state(JobPhaseName(job_.phase()));
  reply->set_generation(job_.generation());
  reply->set_restart_count(job_.restart_count());
  reply->set_max_restarts(job_.options().max_restarts);
  reply->set_world_size(job_.options().world_size);
  reply->set_step(std::max(job_.max_step(), latest_metrics_.step()));
  reply->set_max_steps(latest_metrics_.max_steps());
  reply->mutable_latest_metrics()->insert(latest_metrics_.values().begin(),
                                          latest_metrics_.values().end());
  reply->set_elapsed_seconds(absl::ToDoubleSeconds(clock_->Now() - started_));
  const absl::Time now = clock_->Now();
  for (const RankInfo& info : job_.ranks()) {
    proto::RankStatus* rank = reply->add_ranks();
    rank->set_rank(info.rank);
    rank->set_host(info.registration.host);
    rank->set_device(info.registration.device);
    rank->set_pid(info.registration.pid);
    rank->set_step(info.step);
    rank->set_last_heartbeat_age_ms(absl::ToInt64Milliseconds(now - info.last_heartbeat));
    rank->set_state(info.finished ? "finished" : info.stopped ? "stopped" : "running");
  }
  if (const RankFailure* root = job_.RootCause()) {
    int count = 0;
    for (const RankFailure& failure : job_.failures()) count += failure.generation == root->generation;
    reply->set_failure_report(FormatFailureReport(job_.options().job_id, *root, count));
  }
}

namespace {

RankFailure FailureFromExit(const ProcessExit& exit, int rank, bool registered) {
  RankFailure failure;
  failure.rank = rank >= 0 ? rank : exit.launch_rank;
  failure.host = exit.host;
  failure.pid = exit.pid;
  failure.time = exit.time;
  failure.exit_code = exit.exit_code;
  failure.signal = exit.signal;
  failure.error_json = exit.error_json;
  failure.error_file = exit.error_file;
  failure.reason = absl::StrCat("process exited with ", DescribeExit(exit.exit_code, exit.signal),
                                registered ? "" : " before registering");
  if (absl::StatusOr<ErrorFileContent> content = ParseErrorFileJson(exit.error_json); content.ok()) {
    failure.time = std::min(failure.time, LatestFailureTime(*content, exit.time));
  }
  return failure;
}

// How long after a reported error a peer's death still counts as its cause.
constexpr absl::Duration kDeathSettle = absl::Seconds(1);

}  // namespace

void CoordinatorService::OnProcessExit(const ProcessExit& exit) {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    const JobPhase phase = job_.phase();
    const bool active = phase == JobPhase::kPending || phase == JobPhase::kRendezvous ||
                        phase == JobPhase::kRunning;
    int rank = -1;
    for (const RankInfo& info : job_.ranks()) {
      if (info.registration.pid == exit.pid) rank = info.rank;
    }
    if (!active) {  // processes of a generation being torn down, or after the end
      job_.NoteProcessExit(exit.pid, exit.exit_code, exit.signal, exit.error_file);
      const bool abort_exit = exit.exit_code == kExitAborted || exit.exit_code == kExitPreempted ||
                              exit.exit_code == 0;
      if (!exit.killed_by_launcher && !abort_exit && rank >= 0 &&
          !job_.EarlierFailure(FailureFromExit(exit, rank, true))) {
        job_.LateProcessDeath(FailureFromExit(exit, rank, true), kDeathSettle);
      }
      return;
    }
    const bool registered = rank >= 0 || (phase == JobPhase::kRunning && exit.launch_rank >= 0 &&
                                          job_.CheckMember(job_.generation(), exit.launch_rank).ok());
    if (exit.exit_code == 0 && rank >= 0) {
      job_.RankFinished(rank);
    } else if (exit.exit_code == kExitPreempted && rank >= 0) {
      job_.RankStopped(rank);
    } else {
      job_.RankFailed(FailureFromExit(exit, rank, registered));
    }
    AfterTransition(&actions);
  }
  for (auto& action : actions) action();
}

absl::Status CoordinatorService::BeginNextGeneration() {
  absl::MutexLock lock(&mu_);
  return job_.BeginNextGeneration(clock_->Now());
}

absl::StatusOr<int64_t> CoordinatorService::RequestCheckpointStop(const std::string& reason) {
  Actions actions;
  absl::StatusOr<int64_t> step;
  {
    absl::MutexLock lock(&mu_);
    step = job_.RequestCheckpointStop(reason);
    AfterTransition(&actions);
  }
  for (auto& action : actions) action();
  return step;
}

void CoordinatorService::Abort(const std::string& reason) {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    job_.Abort(reason, clock_->Now());
    AfterTransition(&actions);
  }
  for (auto& action : actions) action();
}

JobPhase CoordinatorService::phase() const {
  absl::MutexLock lock(&mu_);
  return job_.phase();
}

launch::JobProgress CoordinatorService::progress() const {
  const JobPhase now = phase();
  if (now == JobPhase::kRestarting) return launch::JobProgress::kRestarting;
  return IsTerminal(now) ? launch::JobProgress::kEnded : launch::JobProgress::kActive;
}

int64_t CoordinatorService::generation() const {
  absl::MutexLock lock(&mu_);
  return job_.generation();
}

proto::GetStatusReply CoordinatorService::Status() const {
  proto::GetStatusReply reply;
  absl::MutexLock lock(&mu_);
  FillStatus(&reply);
  return reply;
}

std::string CoordinatorService::FailureReport() const { return Status().failure_report(); }

JobPhase CoordinatorService::AwaitPhaseChange(JobPhase seen, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return job_.phase() != seen; };
  mu_.AwaitWithDeadline(absl::Condition(&changed), deadline);
  return job_.phase();
}

void CoordinatorService::Shutdown() {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    scheduler_.Cancel(tick_timer_);
    for (auto& [id, pending] : registers_) {
      scheduler_.Cancel(pending->timer);
      grpc::ServerUnaryReactor* reactor = pending->reactor;
      actions.push_back([reactor] {
        reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator shutting down"));
      });
    }
    registers_.clear();
    for (auto& [key, arrivals] : barriers_) {
      for (auto& arrival : arrivals) {
        scheduler_.Cancel(arrival->timer);
        grpc::ServerUnaryReactor* reactor = arrival->reactor;
        actions.push_back([reactor] {
          reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator shutting down"));
        });
      }
    }
    barriers_.clear();
  }
  for (auto& action : actions) action();
  kv_.FailAllWaits(absl::UnavailableError("coordinator shutting down"));
  absl::MutexLock lock(&watchers_mu_);
  for (WatchReactor* watcher : watchers_) watcher->FinishNow(grpc::Status::OK);
}

}  // namespace zt::coordinator
