// The Coordinator gRPC service for one job, on gRPC's callback API: RegisterWorker, Get, Wait
// and Barrier hold no thread while they wait (they finish from the Set/Add/registration that
// completes them, or from the deadline scheduler), WatchJob streams job events. Every RPC
// checks the job token (metadata "zt-token", UNAUTHENTICATED and a rate-limited log line when
// wrong) and the protocol version (FAILED_PRECONDITION naming both); the store's RPCs also
// the caller's restart generation (ABORTED when stale) and its memory caps
// (RESOURCE_EXHAUSTED naming the cap and its flag). The checks are rpc_authorizer.h's, waiting
// barriers barrier_table.h's, the streamed events job_event_log.h's, the replies job_replies.h's.
//
// The process that started the ranks (the launcher, launch/local_launcher.h) sees the service
// as its launch::LaunchedJob: it feeds process exits in with OnProcessExit() and drives
// restarts with BeginNextGeneration(). Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/barrier_table.h"
#include "coordinator/clock.h"
#include "coordinator/deadline_scheduler.h"
#include "coordinator/job_event_log.h"
#include "coordinator/job_state.h"
#include "coordinator/kv_table.h"
#include "coordinator/metrics_recorder.h"
#include "coordinator/rpc_authorizer.h"
#include "launch/launched_job.h"
#include "proto/zerotune.grpc.pb.h"

namespace zt::coordinator {

struct ServiceOptions {
  JobOptions job;
  std::string token;
  std::string output_dir;  // metrics files; empty = none
  absl::Duration rendezvous_timeout = absl::Minutes(10);
  // Rejected RPCs are logged at most once a second per kind (rate_limited_log.h).
  bool log_rejections = true;
  std::ostream* rejection_log = nullptr;  // nullptr: std::cerr; must outlive the service
  KvLimits store_limits;                  // the key-value store's memory caps
};

// The launcher's report of a rank process's end.
using launch::ProcessExit;

class WatchReactor;

class CoordinatorService final : public proto::Coordinator::CallbackService,
                                 public launch::LaunchedJob {
 public:
  // `clock` must outlive the service (Clock::Real() in production).
  CoordinatorService(ServiceOptions options, Clock* clock);
  ~CoordinatorService() override;

  grpc::ServerUnaryReactor* RegisterWorker(grpc::CallbackServerContext* context,
                                           const proto::RegisterWorkerRequest* request,
                                           proto::RegisterWorkerReply* reply) override;
  grpc::ServerUnaryReactor* Set(grpc::CallbackServerContext* context,
                                const proto::SetRequest* request, proto::SetReply* reply) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const proto::WaitRequest* request, proto::GetReply* reply) override;
  grpc::ServerUnaryReactor* Wait(grpc::CallbackServerContext* context,
                                 const proto::WaitRequest* request,
                                 proto::WaitReply* reply) override;
  grpc::ServerUnaryReactor* Add(grpc::CallbackServerContext* context,
                                const proto::AddRequest* request, proto::AddReply* reply) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* context,
                                   const proto::KeyRequest* request,
                                   proto::DeleteReply* reply) override;
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const proto::CheckRequest* request,
                                  proto::CheckReply* reply) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const proto::HeartbeatRequest* request,
                                      proto::HeartbeatReply* reply) override;
  grpc::ServerUnaryReactor* ReportMetrics(grpc::CallbackServerContext* context,
                                          const proto::MetricsRequest* request,
                                          proto::MetricsReply* reply) override;
  grpc::ServerUnaryReactor* Barrier(grpc::CallbackServerContext* context,
                                    const proto::BarrierRequest* request,
                                    proto::BarrierReply* reply) override;
  grpc::ServerWriteReactor<proto::JobEvent>* WatchJob(
      grpc::CallbackServerContext* context, const proto::WatchJobRequest* request) override;
  grpc::ServerUnaryReactor* ReportExit(grpc::CallbackServerContext* context,
                                       const proto::ReportExitRequest* request,
                                       proto::ReportExitReply* reply) override;
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const proto::GetStatusRequest* request,
                                      proto::GetStatusReply* reply) override;
  grpc::ServerUnaryReactor* StopJob(grpc::CallbackServerContext* context,
                                    const proto::StopJobRequest* request,
                                    proto::StopJobReply* reply) override;

  const std::string& output_dir() const { return options_.output_dir; }
  const std::string& job_id() const { return options_.job.job_id; }

  // --- for the launcher in the same process ---
  void OnProcessExit(const ProcessExit& exit) override;
  absl::Status BeginNextGeneration() override;
  absl::StatusOr<int64_t> RequestCheckpointStop(const std::string& reason) override;
  void Abort(const std::string& reason) override;
  JobPhase phase() const;
  // The phase as the launcher acts on it.
  launch::JobProgress progress() const override;
  int64_t generation() const override;
  proto::GetStatusReply Status() const;
  // The root-cause report, "" when nothing failed.
  std::string FailureReport() const;
  // Blocks until the phase differs from `seen` or `deadline`; returns the phase.
  JobPhase AwaitPhaseChange(JobPhase seen, absl::Time deadline) const;
  // Finishes every waiting RPC and stream (before grpc::Server::Shutdown).
  void Shutdown();

  // Called by a WatchReactor when gRPC is done with it.
  void RemoveWatcher(WatchReactor* watcher);

 private:
  // A RegisterWorker or Barrier call waiting for the rest of the world.
  struct PendingRegister {
    grpc::ServerUnaryReactor* reactor;
    proto::RegisterWorkerReply* reply;
    int slot;
    DeadlineScheduler::Id timer = 0;
  };
  class RegisterReactor;
  using Actions = std::vector<std::function<void()>>;

  // RpcAuthorizer::Authorize plus the store's generation check: ABORTED for a caller of another restart
  // generation, as for every other RPC of a stale generation.
  absl::Status AuthorizeStore(grpc::CallbackServerContext* context, const proto::Header& header,
                              const char* method);
  absl::Time WaitDeadline(grpc::CallbackServerContext* context, int64_t timeout_ms) const;
  // Publishes queued job events and fails waits the phase change made moot. Returns the
  // reactor finishes to run after unlocking.
  void AfterTransition(Actions* actions) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every waiting registration and barrier finishes with `status` (after unlocking).
  void FailPendingWaits(const grpc::Status& status, Actions* actions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CompleteRendezvous(Actions* actions) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A waiting registration ended before the rendezvous (its deadline, or its call was
  // cancelled because the caller went away): its participant is withdrawn from the job so
  // that a retry or a restarted process registers again.
  void ExpireRegistration(uint64_t id, bool cancelled);
  void OnBarrierDeadline(const std::string& key, uint64_t id);
  void Tick();

  ServiceOptions options_;
  Clock* clock_;
  absl::Time started_;
  DeadlineScheduler scheduler_;
  KvTable kv_;
  RpcAuthorizer authorizer_;

  mutable absl::Mutex mu_;
  JobState job_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, std::unique_ptr<PendingRegister>> registers_ ABSL_GUARDED_BY(mu_);
  BarrierTable barriers_ ABSL_GUARDED_BY(mu_);
  MetricsRecorder metrics_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  DeadlineScheduler::Id tick_timer_ ABSL_GUARDED_BY(mu_) = 0;
  JobEventLog events_;
};

}  // namespace zt::coordinator
