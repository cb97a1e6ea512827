#include "worker/runtime/worker_runtime.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "coordinator/failure_report.h"
#include "coordinator/grpc_store.h"
#include "coordinator/protocol.h"
#include "sharding/collectives/prefix_store.h"
#if ZT_WITH_MPI_BROADCAST
#include "worker/runtime/mpi_address_broadcast.h"
#endif

namespace zt::worker {
namespace {

namespace zc = ::zt::coordinator;

// The one piece of process-wide state a signal handler can reach: the last signal seen.
std::atomic<int> g_stop_signal{0};

void OnStopSignal(int signal) { g_stop_signal.store(signal); }

void InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

absl::StatusOr<int64_t> EnvInt(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  int64_t parsed = 0;
  if (!absl::SimpleAtoi(value, &parsed) || parsed < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("environment variable ", name, "='", value, "' is not a non-negative integer"));
  }
  return parsed;
}

}  // namespace

absl::StatusOr<WorkerRuntimeOptions> WorkerRuntimeOptions::FromEnv() {
  WorkerRuntimeOptions options;
  absl::StatusOr<zc::ClientOptions> client = zc::ClientOptionsFromEnv();
  if (!client.ok() && std::getenv(zc::kEnvCoordinator) == nullptr) {
    // Not started by `zerotune launch`: maybe by srun or mpirun.
    AddressBroadcast broadcast;
#if ZT_WITH_MPI_BROADCAST
    broadcast = BroadcastRankZeroAddress;
#endif
    absl::StatusOr<BatchCoordinator> batch =
        DiscoverBatchCoordinator([](const char* name) { return std::getenv(name); }, broadcast);
    if (batch.status().code() == absl::StatusCode::kNotFound) return client.status();
    if (!batch.ok()) return batch.status();
    options.client.address = batch->address();
    options.client.token = batch->token;
    options.host = batch->host;
    options.device = batch->rank.local_rank;
    options.batch = *std::move(batch);
    return options;
  }
  if (!client.ok()) return client.status();
  options.client = *client;
  if (const char* host = std::getenv(zc::kEnvHost); host != nullptr && *host != '\0') {
    options.host = host;
  } else {
    char name[256] = {};
    gethostname(name, sizeof(name) - 1);
    options.host = name;
  }
  absl::StatusOr<int64_t> device = EnvInt("LOCAL_RANK", 0);
  if (!device.ok()) return device.status();
  options.device = static_cast<int>(*device);
  absl::StatusOr<int64_t> generation = EnvInt("TORCHELASTIC_RESTART_COUNT", 0);
  if (!generation.ok()) return generation.status();
  options.generation = *generation;
  if (const char* file = std::getenv("TORCHELASTIC_ERROR_FILE")) options.error_file = file;
  return options;
}

absl::StatusOr<std::unique_ptr<WorkerRuntime>> WorkerRuntime::Start(WorkerRuntimeOptions options) {
  std::unique_ptr<EmbeddedCoordinator> embedded;
  if (options.batch && options.batch->host_coordinator) {
    absl::StatusOr<std::unique_ptr<EmbeddedCoordinator>> started =
        EmbeddedCoordinator::Start(*options.batch, options.metrics_dir);
    if (!started.ok()) return started.status();
    embedded = std::move(*started);
  }
  absl::StatusOr<std::unique_ptr<zc::CoordinatorClient>> connected =
      zc::CoordinatorClient::Connect(options.client);
  if (!connected.ok()) return connected.status();
  std::shared_ptr<zc::CoordinatorClient> client = std::move(*connected);
  client->set_generation(options.generation);
  InstallStopHandlers();  // before the rendezvous: a SIGTERM while waiting is not lost
  absl::StatusOr<proto::RegisterWorkerReply> assignment = client->Register(
      options.host, options.device, getpid(), absl::Now() + options.register_timeout);
  if (!assignment.ok()) {
    return absl::Status(assignment.status().code(),
                        absl::StrCat("registering with the coordinator at ",
                                     options.client.address, ": ", assignment.status().message()));
  }
  if (options.batch && options.batch->rank.rank != assignment->rank()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the coordinator made this process rank ", assignment->rank(), " but ", options.batch->rank.source,
        " started it as rank ", options.batch->rank.rank, " (host '", options.host, "', local rank ",
        options.device, "); ranks are node-major in node-list order: use block distribution "
        "(srun -m block, mpirun --map-by slot)"));
  }
  client->set_rank(assignment->rank());
  log::SetRank(assignment->rank());  // every later log line of this process names its rank
  absl::StatusOr<std::unique_ptr<sharding::PrefixStore>> store = sharding::JobStore(
      std::make_shared<zc::GrpcStore>(client), assignment->job_id(), assignment->generation());
  if (!store.ok()) return store.status();
  std::unique_ptr<WorkerRuntime> runtime(new WorkerRuntime(
      std::move(options), std::move(client), *std::move(assignment), std::move(*store)));
  zc::ClientOptions heartbeat_options = runtime->options_.client;
  heartbeat_options.rpc_timeout =
      std::max(absl::Milliseconds(50), absl::Milliseconds(runtime->assignment_.heartbeat_timeout_ms()) / 2);
  absl::StatusOr<std::unique_ptr<zc::CoordinatorClient>> heartbeat_client =
      zc::CoordinatorClient::Connect(heartbeat_options);
  if (!heartbeat_client.ok()) return heartbeat_client.status();
  runtime->heartbeat_client_ = std::move(*heartbeat_client);
  runtime->heartbeat_client_->set_generation(runtime->assignment_.generation());
  runtime->heartbeat_client_->set_rank(runtime->assignment_.rank());
  if (embedded != nullptr) {
    // Before this process exits on an abort, say why and let the others read the event (no
    // graceful server shutdown: a hung rank's stream would hold it for the whole grace).
    EmbeddedCoordinator* coordinator = embedded.get();
    runtime->AddAbortHook([coordinator](const std::string&) {
      coordinator->PrintFailureReportOnce();
      absl::SleepFor(absl::Milliseconds(200));
    });
    runtime->embedded_ = std::move(embedded);
  }
  runtime->heartbeat_thread_ = std::thread([r = runtime.get()] { r->HeartbeatLoop(); });
  runtime->watch_thread_ = std::thread([r = runtime.get()] { r->WatchLoop(); });
  return runtime;
}

WorkerRuntime::WorkerRuntime(WorkerRuntimeOptions options,
                             std::shared_ptr<zc::CoordinatorClient> client,
                             proto::RegisterWorkerReply assignment,
                             std::shared_ptr<sharding::Store> store)
    : options_(std::move(options)),
      client_(std::move(client)),
      assignment_(std::move(assignment)),
      store_(std::move(store)) {}

WorkerRuntime::~WorkerRuntime() {
  if (embedded_ != nullptr) {
    // The other ranks still need the coordinator until they finished or failed.
    embedded_->AwaitJobEnd(absl::Now() + absl::Milliseconds(assignment_.heartbeat_timeout_ms()) * 3 +
                           absl::Minutes(10));
    embedded_->PrintFailureReportOnce();
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (watch_context_ != nullptr) watch_context_->TryCancel();
  }
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  if (watch_thread_.joinable()) watch_thread_.join();
  if (embedded_ != nullptr) embedded_->Shutdown();
}

std::string WorkerRuntime::LogPrefix() const { return absl::StrCat("[rank ", rank(), "] "); }

void WorkerRuntime::Log(const std::string& message) const { log::Info(message); }

std::optional<int64_t> WorkerRuntime::stop_step() const {
  const int64_t step = stop_step_.load();
  return step < 0 ? std::nullopt : std::optional<int64_t>(step);
}

void WorkerRuntime::HeartbeatLoop() {
  const absl::Duration interval = absl::Milliseconds(assignment_.heartbeat_interval_ms());
  const absl::Duration timeout = absl::Milliseconds(assignment_.heartbeat_timeout_ms());
  absl::Time last_ok = absl::Now();
  absl::Time next_beat = absl::Now();
  bool signal_reported = false;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      const absl::Time wake = std::min(next_beat, absl::Now() + absl::Milliseconds(20));
      mu_.AwaitWithDeadline(absl::Condition(&stopping_), wake);
      if (stopping_) return;
    }
    if (const int signal = g_stop_signal.load(); signal != 0 && !signal_reported) {
      signal_reported = true;
      Log(absl::StrCat("signal ", signal, ": asking the coordinator for a checkpoint-and-stop"));
      proto::ReportExitRequest request;
      request.set_reason(proto::ReportExitRequest::PREEMPTION_SIGNAL);
      request.set_signal(signal);
      request.set_step(step_);
      if (absl::Status status = client_->ReportExit(request); !status.ok()) {
        Log(absl::StrCat("reporting the signal failed: ", status.ToString()));
      }
    }
    if (absl::Now() < next_beat) continue;
    next_beat = absl::Now() + interval;
    absl::StatusOr<proto::HeartbeatReply> reply = heartbeat_client_->Heartbeat(step_);
    if (reply.ok()) {
      last_ok = absl::Now();
    } else if (reply.status().code() == absl::StatusCode::kAborted) {
      Abort(std::string(reply.status().message()), zc::kExitAborted);
    } else if (absl::Now() - last_ok > timeout) {
      Abort(absl::StrCat("no answer from the coordinator at ", options_.client.address, " for ",
                         absl::FormatDuration(absl::Now() - last_ok), " (heartbeat timeout ",
                         absl::FormatDuration(timeout), "): ", reply.status().message()),
            zc::kExitCoordinatorLost);
    }
  }
}

void WorkerRuntime::WatchLoop() {
  proto::WatchJobRequest request;
  client_->FillHeader(request.mutable_header());
  while (true) {
    grpc::ClientContext* context = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      watch_context_ = client_->NewContext(absl::Now() + absl::Hours(1));
      context = watch_context_.get();
    }
    auto reader = client_->stub().WatchJob(context, request);
    proto::JobEvent event;
    while (reader->Read(&event)) OnEvent(event);
    const grpc::Status status = reader->Finish();
    {
      absl::MutexLock lock(&mu_);
      watch_context_.reset();
      if (stopping_ || status.ok()) return;  // OK: the job ended
      // Reconnect after a pause; losing the coordinator for good is the heartbeat's call.
      mu_.AwaitWithDeadline(absl::Condition(&stopping_), absl::Now() + absl::Milliseconds(200));
    }
  }
}

void WorkerRuntime::OnEvent(const proto::JobEvent& event) {
  if (event.generation() != assignment_.generation()) return;
  switch (event.kind()) {
    case proto::JobEvent::ABORT:
      Abort(event.reason(), zc::kExitAborted);
      break;
    case proto::JobEvent::CHECKPOINT_AND_STOP:
      Log(absl::StrCat("coordinator: checkpoint at step ", event.step(), ", then stop (",
                       event.reason(), ")"));
      stop_step_ = event.step();
      break;
    default:
      break;
  }
}

void WorkerRuntime::Abort(const std::string& reason, int exit_code) {
  if (aborted_.exchange(true)) return;
  Log(absl::StrCat("aborting: ", reason));
  std::vector<std::function<void(const std::string&)>> hooks;
  {
    absl::MutexLock lock(&mu_);
    hooks = abort_hooks_;
  }
  for (auto& hook : hooks) hook(reason);
  if (options_.exit_on_abort) {
    std::fflush(nullptr);
    std::_Exit(exit_code);
  }
}

void WorkerRuntime::AddAbortHook(std::function<void(const std::string&)> hook) {
  absl::MutexLock lock(&mu_);
  abort_hooks_.push_back(std::move(hook));
}

absl::Status WorkerRuntime::Barrier(const std::string& name, absl::Time deadline) {
  return client_->Barrier(name, deadline);
}

absl::Status WorkerRuntime::ReportMetrics(int64_t step, int64_t max_steps, double epoch,
                                          const std::map<std::string, double>& values) {
  proto::MetricsRequest request;
  request.set_step(step);
  request.set_max_steps(max_steps);
  request.set_epoch(epoch);
  request.mutable_values()->insert(values.begin(), values.end());
  return client_->ReportMetrics(request);
}

absl::Status WorkerRuntime::ReportFinished() {
  proto::ReportExitRequest request;
  request.set_reason(proto::ReportExitRequest::FINISHED);
  request.set_step(step_);
  return client_->ReportExit(request);
}

absl::Status WorkerRuntime::ReportStopped() {
  proto::ReportExitRequest request;
  request.set_reason(proto::ReportExitRequest::STOPPED);
  request.set_step(step_);
  return client_->ReportExit(request);
}

void WorkerRuntime::ReportFailure(const absl::Status& error) {
  if (aborted_) return;  // the error is the abort's consequence; the coordinator knows the cause
  const std::string json = zc::MakeErrorFileJson(
      absl::StrCat(LogPrefix(), error.ToString()), "", absl::Now());
  if (!options_.error_file.empty()) {
    if (absl::Status status = zc::WriteErrorFile(options_.error_file, json); !status.ok()) {
      Log(status.ToString());
    }
  }
  proto::ReportExitRequest request;
  request.set_reason(proto::ReportExitRequest::FAILED);
  request.set_error_json(json);
  request.set_step(step_);
  if (absl::Status status = client_->ReportExit(request); !status.ok()) {
    Log(absl::StrCat("reporting the failure failed: ", status.ToString()));
  }
}

}  // namespace zt::worker
