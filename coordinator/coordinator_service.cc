#include "coordinator/coordinator_service.h"

#include <algorithm>
#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "coordinator/job_replies.h"
#include "coordinator/protocol.h"
#include "coordinator/rank_failures.h"
#include "coordinator/watch_reactor.h"

namespace zt::coordinator {
namespace {

// "ipv4:10.0.0.7:5123" → "10.0.0.7"; "ipv6:[::1]:5123" (or %5B..%5D) → "::1".
std::string PeerAddress(const std::string& peer) {
  std::string address = peer;
  const size_t colon = address.find(':');
  if (colon != std::string::npos) address = address.substr(colon + 1);
  if (absl::StartsWith(address, "%5B")) address = "[" + address.substr(3);
  const size_t encoded = address.find("%5D");
  if (encoded != std::string::npos) address.replace(encoded, 3, "]");
  if (absl::StartsWith(address, "[")) return address.substr(1, address.find(']') - 1);
  const size_t port = address.rfind(':');
  return port == std::string::npos ? address : address.substr(0, port);
}

grpc::ServerUnaryReactor* FinishWith(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

// RegisterWorker's reactor: unlike the default one it hears a cancellation (the caller died
// or gave up), which must withdraw the waiting participant. Deletes itself in OnDone.
class CoordinatorService::RegisterReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit RegisterReactor(CoordinatorService* service) : service_(service) {}
  // The pending registration this call waits on (0: none yet).
  void set_id(uint64_t id) { id_.store(id); }
  void OnCancel() override {
    if (const uint64_t id = id_.load(); id != 0) service_->ExpireRegistration(id, true);
  }
  void OnDone() override { delete this; }

 private:
  CoordinatorService* service_;
  std::atomic<uint64_t> id_{0};
};

CoordinatorService::CoordinatorService(ServiceOptions options, Clock* clock)
    : options_(std::move(options)),
      clock_(clock),
      started_(clock->Now()),
      kv_(&scheduler_, absl::StrCat("the coordinator store of job '", options_.job.job_id, "'"),
          options_.store_limits),
      authorizer_(options_.token, options_.job.job_id, options_.log_rejections,
                  options_.rejection_log, clock),
      job_(options_.job, clock->Now()),
      metrics_(options_.output_dir, clock) {
  absl::MutexLock lock(&mu_);
  tick_timer_ = scheduler_.Schedule(absl::Now(), [this] { Tick(); });
}

CoordinatorService::~CoordinatorService() {
  Shutdown();
  scheduler_.Stop();  // no callback may run once members start going away
}

absl::Status CoordinatorService::AuthorizeStore(grpc::CallbackServerContext* context,
                                                const proto::Header& header, const char* method) {
  if (absl::Status status = authorizer_.Authorize(context, header, method);
      !status.ok()) {
    return status;
  }
  int64_t current = 0;
  {
    absl::MutexLock lock(&mu_);
    current = job_.generation();
  }
  if (header.generation() == current) return absl::OkStatus();
  absl::Status stale = absl::AbortedError(absl::StrCat(
      method, " from restart generation ", header.generation(), ", the job is at generation ",
      current, "; this process belongs to an earlier attempt"));
  authorizer_.LogRejection(context, method, stale);
  return stale;
}

absl::Time CoordinatorService::WaitDeadline(grpc::CallbackServerContext* context,
                                            int64_t timeout_ms) const {
  absl::Time deadline = absl::FromChrono(context->deadline());
  if (timeout_ms > 0) deadline = std::min(deadline, absl::Now() + absl::Milliseconds(timeout_ms));
  return deadline;
}

grpc::ServerUnaryReactor* CoordinatorService::RegisterWorker(
    grpc::CallbackServerContext* context, const proto::RegisterWorkerRequest* request,
    proto::RegisterWorkerReply* reply) {
  if (absl::Status status = authorizer_.Authorize(context, request->header(), "RegisterWorker");
      !status.ok()) {
    return FinishWith(context, status);
  }
  Registration registration{request->host(), request->device(), request->pid(),
                            PeerAddress(context->peer())};
  auto* reactor = new RegisterReactor(this);
  Actions actions;
  uint64_t id = 0;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<int> slot =
        job_.Register(request->header().generation(), registration, clock_->Now());
    if (!slot.ok()) {
      reactor->Finish(ToGrpcStatus(slot.status()));
      return reactor;
    }
    id = next_id_++;
    auto pending = std::make_unique<PendingRegister>(PendingRegister{reactor, reply, *slot});
    if (!job_.rendezvous_complete()) {
      const absl::Time deadline = std::min(WaitDeadline(context, request->timeout_ms()),
                                           absl::Now() + options_.rendezvous_timeout);
      pending->timer = scheduler_.Schedule(deadline, [this, id] { ExpireRegistration(id, false); });
    }
    registers_.emplace(id, std::move(pending));
    reactor->set_id(id);
    if (job_.rendezvous_complete()) CompleteRendezvous(&actions);
  }
  for (auto& action : actions) action();
  // A cancellation that came before set_id() found no id to expire.
  if (context->IsCancelled()) ExpireRegistration(id, true);
  return reactor;
}

void CoordinatorService::CompleteRendezvous(Actions* actions) {
  log::Info(absl::StrCat("[coordinator] rendezvous of ", job_.options().world_size,
                         " ranks complete (generation ", job_.generation(), ") ",
                         absl::FormatDuration(clock_->Now() - job_.rendezvous_started()),
                         " after the first registration"));
  for (auto& [id, pending] : registers_) {
    FillRegisterReply(job_, job_.slot(pending->slot), pending->reply);
    if (pending->timer != 0) scheduler_.Cancel(pending->timer);
    grpc::ServerUnaryReactor* reactor = pending->reactor;
    actions->push_back([reactor] { reactor->Finish(grpc::Status::OK); });
  }
  registers_.clear();
}

void CoordinatorService::ExpireRegistration(uint64_t id, bool cancelled) {
  grpc::ServerUnaryReactor* reactor = nullptr;
  std::string message;
  {
    absl::MutexLock lock(&mu_);
    auto it = registers_.find(id);
    if (it == registers_.end()) return;  // completed, aborted or already expired
    reactor = it->second->reactor;
    const int slot = it->second->slot;
    if (cancelled) scheduler_.Cancel(it->second->timer);
    registers_.erase(it);
    const Registration who = job_.slot(slot).registration;
    message = absl::StrCat("rendezvous of job '", job_.options().job_id, "' ",
                           cancelled ? "was left" : "timed out", ": ", job_.registered(), " of ",
                           job_.options().world_size, " ranks registered (generation ",
                           job_.generation(), "); check that every node started its ranks");
    if (job_.Withdraw(slot, clock_->Now())) {
      for (auto& [other, pending] : registers_) {
        if (pending->slot > slot) --pending->slot;  // Withdraw moved later slots down
      }
      log::Warn(absl::StrCat("[coordinator] withdrew '", who.host, "' device ", who.device,
                             " (pid ", who.pid, ") from the rendezvous: its registration ",
                             cancelled ? "was cancelled" : "timed out", "; ", job_.registered(),
                             " of ", job_.options().world_size, " ranks registered"));
    }
  }
  reactor->Finish(cancelled ? grpc::Status(grpc::StatusCode::CANCELLED, message)
                            : grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, message));
}

grpc::ServerUnaryReactor* CoordinatorService::Set(grpc::CallbackServerContext* context,
                                                  const proto::SetRequest* request,
                                                  proto::SetReply*) {
  if (absl::Status status = AuthorizeStore(context, request->header(), "Set"); !status.ok()) {
    return FinishWith(context, status);
  }
  absl::Status status = kv_.Set(request->key(), request->value());
  if (!status.ok()) authorizer_.LogRejection(context, "Set", status);
  return FinishWith(context, status);
}

grpc::ServerUnaryReactor* CoordinatorService::Get(grpc::CallbackServerContext* context,
                                                  const proto::WaitRequest* request,
                                                  proto::GetReply* reply) {
  if (absl::Status status = AuthorizeStore(context, request->header(), "Get"); !status.ok()) {
    return FinishWith(context, status);
  }
  if (request->keys_size() != 1) {
    return FinishWith(context, absl::InvalidArgumentError(absl::StrCat(
                                   "Get takes exactly one key, got ", request->keys_size())));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const std::string key = request->keys(0);
  kv_.WaitAsync({key}, WaitDeadline(context, request->timeout_ms()),
                [this, reactor, reply, key](absl::Status status) {
                  if (status.ok()) {
                    absl::StatusOr<std::string> value = kv_.Read(key);
                    status = value.status();
                    if (value.ok()) reply->set_value(std::move(*value));
                  }
                  reactor->Finish(ToGrpcStatus(status));
                });
  return reactor;
}

grpc::ServerUnaryReactor* CoordinatorService::Wait(grpc::CallbackServerContext* context,
                                                   const proto::WaitRequest* request,
                                                   proto::WaitReply*) {
  if (absl::Status status = AuthorizeStore(context, request->header(), "Wait"); !status.ok()) {
    return FinishWith(context, status);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  kv_.WaitAsync({request->keys().begin(), request->keys().end()},
                WaitDeadline(context, request->timeout_ms()),
                [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

grpc::ServerUnaryReactor* CoordinatorService::Add(grpc::CallbackServerContext* context,
                                                  const proto::AddRequest* request,
                                                  proto::AddReply* reply) {
  if (absl::Status status = AuthorizeStore(context, request->header(), "Add"); !status.ok()) {
    return FinishWith(context, status);
  }
  absl::StatusOr<int64_t> value = kv_.Add(request->key(), request->delta());
  if (value.ok()) reply->set_value(*value);
  if (value.status().code() == absl::StatusCode::kResourceExhausted) {
    authorizer_.LogRejection(context, "Add", value.status());
  }
  return FinishWith(context, value.status());
}

grpc::ServerUnaryReactor* CoordinatorService::Delete(grpc::CallbackServerContext* context,
                                                     const proto::KeyRequest* request,
                                                     proto::DeleteReply* reply) {
  if (absl::Status status = AuthorizeStore(context, request->header(), "Delete"); !status.ok()) {
    return FinishWith(context, status);
  }
  reply->set_existed(kv_.Delete(request->key()));
  return FinishWith(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* CoordinatorService::Check(grpc::CallbackServerContext* context,
                                                    const proto::CheckRequest* request,
                                                    proto::CheckReply* reply) {
  if (absl::Status status = AuthorizeStore(context, request->header(), "Check"); !status.ok()) {
    return FinishWith(context, status);
  }
  reply->set_all_present(kv_.Check({request->keys().begin(), request->keys().end()}));
  return FinishWith(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* CoordinatorService::Heartbeat(grpc::CallbackServerContext* context,
                                                        const proto::HeartbeatRequest* request,
                                                        proto::HeartbeatReply* reply) {
  if (absl::Status status = authorizer_.Authorize(context, request->header(), "Heartbeat");
      !status.ok()) {
    return FinishWith(context, status);
  }
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    status = job_.Heartbeat(request->header().generation(), request->header().rank(),
                            request->step(), clock_->Now());
  }
  reply->set_server_time_ms(absl::ToUnixMillis(clock_->Now()));
  return FinishWith(context, status);
}

grpc::ServerUnaryReactor* CoordinatorService::ReportMetrics(grpc::CallbackServerContext* context,
                                                            const proto::MetricsRequest* request,
                                                            proto::MetricsReply*) {
  if (absl::Status status = authorizer_.Authorize(context, request->header(), "ReportMetrics");
      !status.ok()) {
    return FinishWith(context, status);
  }
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    status = job_.CheckMember(request->header().generation(), request->header().rank());
    if (status.ok()) {
      job_.NoteStep(request->step());
      if (request->header().rank() == 0) metrics_.Record(*request);
    }
  }
  return FinishWith(context, status);
}

grpc::ServerUnaryReactor* CoordinatorService::Barrier(grpc::CallbackServerContext* context,
                                                      const proto::BarrierRequest* request,
                                                      proto::BarrierReply* reply) {
  if (absl::Status status = authorizer_.Authorize(context, request->header(), "Barrier");
      !status.ok()) {
    return FinishWith(context, status);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    const int64_t generation = request->header().generation();
    if (absl::Status status = job_.CheckMember(generation, request->header().rank()); !status.ok()) {
      reactor->Finish(ToGrpcStatus(status));
      return reactor;
    }
    const std::string key = absl::StrCat(generation, "/", request->name());
    const uint64_t id = next_id_++;
    BarrierTable::Arrival* waiting =
        barriers_.Arrive(key, {id, request->header().rank(), reactor, reply},
                         job_.options().world_size, scheduler_, &actions);
    if (waiting != nullptr) {
      waiting->timer = scheduler_.Schedule(WaitDeadline(context, request->timeout_ms()),
                                           [this, key, id] { OnBarrierDeadline(key, id); });
    }
  }
  for (auto& action : actions) action();
  return reactor;
}

void CoordinatorService::OnBarrierDeadline(const std::string& key, uint64_t id) {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    barriers_.Expire(key, id, job_.options().world_size, &actions);
  }
  for (auto& action : actions) action();
}

grpc::ServerWriteReactor<proto::JobEvent>* CoordinatorService::WatchJob(
    grpc::CallbackServerContext* context, const proto::WatchJobRequest* request) {
  auto* watcher = new WatchReactor(this, request->header().generation(), request->header().rank());
  if (absl::Status status = authorizer_.Authorize(context, request->header(), "WatchJob");
      !status.ok()) {
    watcher->FinishNow(ToGrpcStatus(status));
    return watcher;
  }
  bool terminal = false;
  {
    absl::MutexLock lock(&mu_);
    terminal = IsTerminal(job_.phase()) || shut_down_;
  }
  events_.Add(watcher, terminal);
  return watcher;
}

void CoordinatorService::RemoveWatcher(WatchReactor* watcher) { events_.Remove(watcher); }

grpc::ServerUnaryReactor* CoordinatorService::ReportExit(grpc::CallbackServerContext* context,
                                                         const proto::ReportExitRequest* request,
                                                         proto::ReportExitReply*) {
  if (absl::Status status = authorizer_.Authorize(context, request->header(), "ReportExit");
      !status.ok()) {
    return FinishWith(context, status);
  }
  const int rank = request->header().rank();
  Actions actions;
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    status = job_.CheckMember(request->header().generation(), rank);
    if (status.ok()) {
      job_.NoteStep(request->step());
      switch (request->reason()) {
        case proto::ReportExitRequest::FAILED: {
          int64_t pid = 0;
          for (const RankInfo& info : job_.ranks()) {
            if (info.rank == rank) pid = info.registration.pid;
          }
          job_.RankFailed(FailureFromReport(rank, pid, clock_->Now(), request->error_json()));
          break;
        }
        case proto::ReportExitRequest::PREEMPTION_SIGNAL:
          status = job_.RequestCheckpointStop(
                           absl::StrCat("signal ", request->signal(), " on rank ", rank))
                       .status();
          break;
        case proto::ReportExitRequest::FINISHED: job_.RankFinished(rank); break;
        case proto::ReportExitRequest::STOPPED: job_.RankStopped(rank); break;
        default:
          status = absl::InvalidArgumentError(
              absl::StrCat("ReportExit: unknown reason ", request->reason()));
      }
      AfterTransition(&actions);
    }
  }
  for (auto& action : actions) action();
  return FinishWith(context, status);
}

grpc::ServerUnaryReactor* CoordinatorService::GetStatus(grpc::CallbackServerContext* context,
                                                        const proto::GetStatusRequest* request,
                                                        proto::GetStatusReply* reply) {
  if (absl::Status status = authorizer_.Authorize(context, request->header(), "GetStatus");
      !status.ok()) {
    return FinishWith(context, status);
  }
  {
    absl::MutexLock lock(&mu_);
    FillJobStatus(job_, metrics_.latest(), started_, clock_->Now(), reply);
  }
  return FinishWith(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* CoordinatorService::StopJob(grpc::CallbackServerContext* context,
                                                      const proto::StopJobRequest* request,
                                                      proto::StopJobReply* reply) {
  if (absl::Status status = authorizer_.Authorize(context, request->header(), "StopJob");
      !status.ok()) {
    return FinishWith(context, status);
  }
  const std::string reason = request->reason().empty() ? "zerotune stop" : request->reason();
  absl::Status status;
  if (request->checkpoint()) {
    absl::StatusOr<int64_t> step = RequestCheckpointStop(reason);
    status = step.status();
    if (step.ok()) reply->set_stop_step(*step);
  } else {
    Abort(reason);
  }
  return FinishWith(context, status);
}

// ---- Job control: transitions and their broadcasts, the heartbeat check, what the launcher in
// the same process calls.

void CoordinatorService::AfterTransition(Actions* actions) {
  std::vector<proto::JobEvent> events = job_.TakeEvents();
  const JobPhase phase = job_.phase();
  if (phase == JobPhase::kRestarting || phase == JobPhase::kFailed) {
    // Waiting registrations and barriers of the torn-down generation will never complete.
    FailPendingWaits(grpc::Status(grpc::StatusCode::ABORTED,
                                  absl::StrCat("job '", job_.options().job_id, "' is ",
                                               JobPhaseName(phase), " after a rank failure")),
                     actions);
  }
  if (!events.empty()) events_.Publish(events);
}

void CoordinatorService::FailPendingWaits(const grpc::Status& status, Actions* actions) {
  for (auto& [id, pending] : registers_) {
    if (pending->timer != 0) scheduler_.Cancel(pending->timer);
    grpc::ServerUnaryReactor* reactor = pending->reactor;
    actions->push_back([reactor, status] { reactor->Finish(status); });
  }
  registers_.clear();
  barriers_.FailAll(status, scheduler_, actions);
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
      if (!exit.killed_by_launcher && !abort_exit && rank >= 0) {
        const RankFailure death = FailureFromProcessExit(exit, rank, true);
        if (!job_.EarlierFailure(death)) job_.LateProcessDeath(death, kDeathSettle);
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
      job_.RankFailed(FailureFromProcessExit(exit, rank, registered));
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
  FillJobStatus(job_, metrics_.latest(), started_, clock_->Now(), &reply);
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
    FailPendingWaits(grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator shutting down"),
                     &actions);
  }
  for (auto& action : actions) action();
  kv_.FailAllWaits(absl::UnavailableError("coordinator shutting down"));
  events_.FinishAll();
}

}  // namespace zt::coordinator
