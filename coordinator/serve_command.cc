#include "coordinator/serve_command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "coordinator/coordinator_server.h"
#include "coordinator/job_file.h"
#include "coordinator/protocol.h"
#include "coordinator/store_limit_flags.h"

namespace zt::coordinator {
namespace {

std::atomic<int> g_serve_signals{0};
void OnServeSignal(int) { g_serve_signals.fetch_add(1); }

struct ServeRequest {
  int world_size = 1;
  std::string hosts;  // comma-separated node order
  std::string bind_address = "127.0.0.1";
  int port = 0;
  std::string tls_cert;
  std::string tls_key;
  std::string job_id;
  std::string job_dir;
  std::string output_dir;
  int64_t heartbeat_interval_ms = 1000;
  int64_t heartbeat_timeout_ms = 10000;
  KvLimits store_limits;
};

int RunServe(const ServeRequest& request) {
  ServiceOptions service;
  service.job.job_id = request.job_id.empty() ? absl::StrCat("zt-", getpid()) : request.job_id;
  service.job.world_size = request.world_size;
  if (!request.hosts.empty()) service.job.node_order = absl::StrSplit(request.hosts, ',');
  service.job.heartbeat_interval = absl::Milliseconds(request.heartbeat_interval_ms);
  service.job.heartbeat_timeout = absl::Milliseconds(request.heartbeat_timeout_ms);
  service.job.can_restart = false;
  service.token = GenerateToken();
  service.output_dir = request.output_dir.empty() ? request.job_dir : request.output_dir;
  service.store_limits = request.store_limits;
  ServerOptions server_options{request.bind_address, request.port, request.tls_cert, request.tls_key};
  absl::StatusOr<std::unique_ptr<CoordinatorServer>> server = CoordinatorServer::Start(
      server_options, std::make_unique<CoordinatorService>(service, Clock::Real()));
  if (!server.ok()) {
    log::Error(absl::StrCat("zerotune serve: ", server.status().message()));
    return 1;
  }
  JobFile job{(*server)->address(), service.job.job_id, request.tls_cert, service.token};
  if (absl::Status status = WriteJobFile(request.job_dir, job); !status.ok()) {
    log::Error(absl::StrCat("zerotune serve: ", status.message()));
    return 1;
  }
  std::cout << "zerotune serve: job '" << service.job.job_id << "' for " << request.world_size
            << " rank(s) listening on " << (*server)->bound_address()
            << ((*server)->tls() ? " (TLS)" : "") << "; token in " << request.job_dir
            << "/.zerotune/token" << std::endl;
  std::signal(SIGTERM, OnServeSignal);
  std::signal(SIGINT, OnServeSignal);
  CoordinatorService& coordinator = (*server)->service();
  int signals_seen = 0;
  bool stopped_idle = false;
  JobPhase phase = coordinator.phase();
  while (!IsTerminal(phase)) {
    phase = coordinator.AwaitPhaseChange(phase, absl::Now() + absl::Milliseconds(100));
    if (g_serve_signals.load() > signals_seen) {
      if (coordinator.Status().ranks_size() == 0) {
        // Nobody could checkpoint or even hear a stop request: stop now.
        coordinator.Abort("signal on zerotune serve before any rank registered");
        stopped_idle = true;
        break;
      }
      if (signals_seen++ == 0 && coordinator.RequestCheckpointStop("signal on zerotune serve").ok()) {
        log::Info("zerotune serve: signal: every rank checkpoints at its next step, then the "
                  "job stops (a second signal aborts)");
        continue;
      }
      coordinator.Abort("signal on zerotune serve");
    }
  }
  const proto::GetStatusReply status = coordinator.Status();
  // Let the ranks read the final event before the server goes away.
  absl::SleepFor(absl::Milliseconds(200));
  (*server)->Shutdown();
  RemoveJobFile(request.job_dir);
  if (stopped_idle) {
    log::Info(absl::StrCat("zerotune serve: job '", status.job_id(),
                           "' stopped by a signal before any rank registered"));
    return kExitPreempted;
  }
  log::Info(absl::StrCat("zerotune serve: job '", status.job_id(), "' ", status.state()));
  if (!status.failure_report().empty()) log::Error(status.failure_report());
  return phase == JobPhase::kSucceeded ? 0 : phase == JobPhase::kStopped ? kExitPreempted : 1;
}

}  // namespace

void AddServeCommand(CLI::App& app) {
  auto request = std::make_shared<ServeRequest>();
  CLI::App* command = app.add_subcommand("serve", "run the coordinator only (ranks start elsewhere)");
  command->add_option("--world_size", request->world_size, "ranks in the job")
      ->required()->check(CLI::PositiveNumber);
  command->add_option("--hosts", request->hosts, "node order for ranks, comma-separated (hostfile order)");
  command->add_option("--bind", request->bind_address, "listen address (default 127.0.0.1)");
  command->add_option("--port", request->port, "listen port (0: any free port)")->check(CLI::Range(0, 65535));
  command->add_option("--tls_cert", request->tls_cert, "PEM certificate: serve TLS");
  command->add_option("--tls_key", request->tls_key, "PEM private key of --tls_cert");
  command->add_option("--job_id", request->job_id);
  command->add_option("--job_dir", request->job_dir, "where the address and token files go")->required();
  command->add_option("--output_dir", request->output_dir, "metrics files (default --job_dir)");
  command->add_option("--heartbeat_interval_ms", request->heartbeat_interval_ms)->check(CLI::PositiveNumber);
  command->add_option("--heartbeat_timeout_ms", request->heartbeat_timeout_ms)->check(CLI::PositiveNumber);
  AddStoreLimitOptions(command, &request->store_limits);
  command->callback([request] {
    const int code = RunServe(*request);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace zt::coordinator
