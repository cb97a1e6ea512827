#include "coordinator/coordinator_service.h"

#include <atomic>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "coordinator/failure_report.h"
#include "coordinator/protocol.h"
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
      rejections_(options_.rejection_log != nullptr ? options_.rejection_log : &std::cerr, clock),
      job_(options_.job, clock->Now()) {
  absl::MutexLock lock(&mu_);
  tick_timer_ = scheduler_.Schedule(absl::Now(), [this] { Tick(); });
}

CoordinatorService::~CoordinatorService() {
  Shutdown();
  scheduler_.Stop();  // no callback may run once members start going away
}

absl::Status CoordinatorService::Authorize(grpc::CallbackServerContext* context,
                                           const proto::Header& header, const char* method) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(kTokenMetadataKey);
  const absl::string_view token =
      it == metadata.end() ? absl::string_view() : absl::string_view(it->second.data(), it->second.size());
  if (!TokensEqual(token, options_.token)) {
    const char* why = it == metadata.end() ? "no job token" : "wrong job token";
    if (options_.log_rejections) {
      rejections_.Log(
          absl::StrCat(method, ": ", why),
          absl::StrCat("[coordinator] rejected ", method, " from ", context->peer(), ": ", why));
    }
    return absl::UnauthenticatedError(absl::StrCat(method, ": ", why, " for job '",
                                                   options_.job.job_id, "'; ranks get it through ",
                                                   kEnvToken));
  }
  return CheckProtocolVersion(header);
}

absl::Status CoordinatorService::AuthorizeStore(grpc::CallbackServerContext* context,
                                                const proto::Header& header, const char* method) {
  if (absl::Status status = Authorize(context, header, method); !status.ok()) return status;
  int64_t current = 0;
  {
    absl::MutexLock lock(&mu_);
    current = job_.generation();
  }
  if (header.generation() == current) return absl::OkStatus();
  absl::Status stale = absl::AbortedError(absl::StrCat(
      method, " from restart generation ", header.generation(), ", the job is at generation ",
      current, "; this process belongs to an earlier attempt"));
  LogRejection(context, method, stale);
  return stale;
}

void CoordinatorService::LogRejection(grpc::CallbackServerContext* context, const char* method,
                                      const absl::Status& status) {
  if (!options_.log_rejections) return;
  rejections_.Log(absl::StrCat(method, ": ", absl::StatusCodeToString(status.code())),
                  absl::StrCat("[coordinator] rejected ", method, " from ", context->peer(), ": ",
                               status.message()));
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
  if (absl::Status status = Authorize(context, request->header(), "RegisterWorker"); !status.ok()) {
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
  std::string master_addr;
  for (const RankInfo& info : job_.ranks()) {
    if (info.rank == 0) master_addr = info.registration.address;
  }
  for (auto& [id, pending] : registers_) {
    const RankInfo& info = job_.slot(pending->slot);
    proto::RegisterWorkerReply* reply = pending->reply;
    reply->set_rank(info.rank);
    reply->set_local_rank(info.local_rank);
    reply->set_world_size(job_.options().world_size);
    reply->set_local_world_size(info.local_world_size);
    reply->set_node_rank(info.node_rank);
    int nodes = 0;
    for (const RankInfo& other : job_.ranks()) nodes = std::max(nodes, other.node_rank + 1);
    reply->set_num_nodes(nodes);
    reply->set_generation(job_.generation());
    reply->set_job_id(job_.options().job_id);
    reply->set_advertise_address(info.registration.address);
    reply->set_master_addr(master_addr);
    reply->set_heartbeat_interval_ms(absl::ToInt64Milliseconds(job_.options().heartbeat_interval));
    reply->set_heartbeat_timeout_ms(absl::ToInt64Milliseconds(job_.options().heartbeat_timeout));
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
  if (!status.ok()) LogRejection(context, "Set", status);
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
    LogRejection(context, "Add", value.status());
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
  if (absl::Status status = Authorize(context, request->header(), "Heartbeat"); !status.ok()) {
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
  if (absl::Status status = Authorize(context, request->header(), "ReportMetrics"); !status.ok()) {
    return FinishWith(context, status);
  }
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    status = job_.CheckMember(request->header().generation(), request->header().rank());
    if (status.ok()) {
      job_.NoteStep(request->step());
      if (request->header().rank() == 0) RecordMetrics(*request);
    }
  }
  return FinishWith(context, status);
}

void CoordinatorService::RecordMetrics(const proto::MetricsRequest& request) {
  latest_metrics_ = request;
  if (options_.output_dir.empty()) return;
  if (metrics_ == nullptr) {
    absl::StatusOr<std::unique_ptr<MetricsWriter>> writer = MetricsWriter::Open(options_.output_dir);
    if (!writer.ok()) {
      log::Error(absl::StrCat("[coordinator] metrics: ", writer.status().ToString()));
      return;
    }
    metrics_ = std::move(*writer);
  }
  MetricsRecord record;
  record.step = request.step();
  record.max_steps = request.max_steps();
  record.epoch = request.epoch();
  record.time = clock_->Now();
  record.values.insert(request.values().begin(), request.values().end());
  if (absl::Status status = metrics_->Append(record); !status.ok()) {
    log::Error(absl::StrCat("[coordinator] metrics: ", status.ToString()));
  }
}

grpc::ServerUnaryReactor* CoordinatorService::Barrier(grpc::CallbackServerContext* context,
                                                      const proto::BarrierRequest* request,
                                                      proto::BarrierReply* reply) {
  if (absl::Status status = Authorize(context, request->header(), "Barrier"); !status.ok()) {
    return FinishWith(context, status);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::vector<PendingBarrier*> done;
  std::vector<std::unique_ptr<PendingBarrier>> completed;
  {
    absl::MutexLock lock(&mu_);
    const int64_t generation = request->header().generation();
    if (absl::Status status = job_.CheckMember(generation, request->header().rank()); !status.ok()) {
      reactor->Finish(ToGrpcStatus(status));
      return reactor;
    }
    const std::string key = absl::StrCat(generation, "/", request->name());
    auto& arrivals = barriers_[key];
    const uint64_t id = next_id_++;
    arrivals.push_back(std::make_unique<PendingBarrier>(
        PendingBarrier{id, request->header().rank(), reactor, reply}));
    if (static_cast<int>(arrivals.size()) >= job_.options().world_size) {
      completed = std::move(arrivals);
      barriers_.erase(key);
      for (auto& arrival : completed) {
        if (arrival->timer != 0) scheduler_.Cancel(arrival->timer);
        arrival->reply->set_arrived(static_cast<int>(completed.size()));
      }
    } else {
      arrivals.back()->timer = scheduler_.Schedule(
          WaitDeadline(context, request->timeout_ms()),
          [this, key, id] { OnBarrierDeadline(key, id); });
    }
  }
  for (auto& arrival : completed) arrival->reactor->Finish(grpc::Status::OK);
  return reactor;
}

void CoordinatorService::OnBarrierDeadline(const std::string& key, uint64_t id) {
  std::unique_ptr<PendingBarrier> expired;
  std::string message;
  {
    absl::MutexLock lock(&mu_);
    auto it = barriers_.find(key);
    if (it == barriers_.end()) return;
    auto& arrivals = it->second;
    std::vector<int> arrived;
    for (auto& arrival : arrivals) {
      if (arrival->id == id) expired = std::move(arrival);
      else arrived.push_back(arrival->rank);
    }
    if (expired == nullptr) return;
    arrivals.erase(std::remove(arrivals.begin(), arrivals.end(), nullptr), arrivals.end());
    std::vector<int> missing;
    for (int rank = 0; rank < job_.options().world_size; ++rank) {
      if (rank != expired->rank && std::find(arrived.begin(), arrived.end(), rank) == arrived.end()) {
        missing.push_back(rank);
      }
    }
    message = absl::StrCat("barrier '", key.substr(key.find('/') + 1), "' timed out on rank ",
                           expired->rank, ": waiting for rank(s) ", absl::StrJoin(missing, ", "));
    if (arrivals.empty()) barriers_.erase(it);
  }
  expired->reactor->Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, message));
}

grpc::ServerWriteReactor<proto::JobEvent>* CoordinatorService::WatchJob(
    grpc::CallbackServerContext* context, const proto::WatchJobRequest* request) {
  auto* watcher = new WatchReactor(this, request->header().generation(), request->header().rank());
  if (absl::Status status = Authorize(context, request->header(), "WatchJob"); !status.ok()) {
    watcher->FinishNow(ToGrpcStatus(status));
    return watcher;
  }
  bool terminal = false;
  {
    absl::MutexLock lock(&mu_);
    terminal = IsTerminal(job_.phase()) || shut_down_;
  }
  absl::MutexLock lock(&watchers_mu_);
  watchers_.push_back(watcher);
  // Replay what this generation was already told (e.g. a stop request before it watched).
  for (const proto::JobEvent& event : history_) {
    if (event.generation() == watcher->generation()) {
      watcher->Push(event, event.kind() == proto::JobEvent::SUCCEEDED);
    }
  }
  if (terminal) watcher->FinishNow(grpc::Status::OK);
  return watcher;
}

void CoordinatorService::RemoveWatcher(WatchReactor* watcher) {
  absl::MutexLock lock(&watchers_mu_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher), watchers_.end());
}

grpc::ServerUnaryReactor* CoordinatorService::ReportExit(grpc::CallbackServerContext* context,
                                                         const proto::ReportExitRequest* request,
                                                         proto::ReportExitReply*) {
  if (absl::Status status = Authorize(context, request->header(), "ReportExit"); !status.ok()) {
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
          RankFailure failure;
          failure.rank = rank;
          failure.time = clock_->Now();
          failure.error_json = request->error_json();
          failure.reason = "reported an error";
          if (absl::StatusOr<ErrorFileContent> content = ParseErrorFileJson(failure.error_json);
              content.ok()) {
            failure.time = LatestFailureTime(*content, failure.time);
          }
          for (const RankInfo& info : job_.ranks()) {
            if (info.rank == rank) failure.pid = info.registration.pid;
          }
          job_.RankFailed(std::move(failure));
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
  if (absl::Status status = Authorize(context, request->header(), "GetStatus"); !status.ok()) {
    return FinishWith(context, status);
  }
  {
    absl::MutexLock lock(&mu_);
    FillStatus(reply);
  }
  return FinishWith(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* CoordinatorService::StopJob(grpc::CallbackServerContext* context,
                                                      const proto::StopJobRequest* request,
                                                      proto::StopJobReply* reply) {
  if (absl::Status status = Authorize(context, request->header(), "StopJob"); !status.ok()) {
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

}  // namespace zt::coordinator
