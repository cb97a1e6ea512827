#include "worker/runtime/embedded_coordinator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "coordinator/clock.h"

namespace zt::worker {

namespace zc = ::zt::coordinator;

absl::StatusOr<std::unique_ptr<EmbeddedCoordinator>> EmbeddedCoordinator::Start(
    const BatchCoordinator& batch, const std::string& metrics_dir) {
  zc::ServiceOptions service;
  service.output_dir = metrics_dir;
  service.job.job_id = batch.job_id;
  service.job.world_size = batch.rank.world_size;
  service.job.node_order = batch.node_order;
  service.job.heartbeat_interval = batch.heartbeat_interval;
  service.job.heartbeat_timeout = batch.heartbeat_timeout;
  service.job.can_restart = false;  // the batch launcher owns the processes
  service.token = batch.token;
  service.rendezvous_timeout = batch.rendezvous_timeout;
  zc::ServerOptions server_options;
  server_options.bind_address = "0.0.0.0";
  server_options.port = batch.master_port;
  absl::StatusOr<std::unique_ptr<zc::CoordinatorServer>> server = zc::CoordinatorServer::Start(
      server_options, std::make_unique<zc::CoordinatorService>(service, zc::Clock::Real()));
  if (!server.ok()) {
    return absl::Status(server.status().code(),
                        absl::StrCat("rank 0 cannot serve the coordinator on port ", batch.master_port,
                                     " (MASTER_PORT, else derived from the job id): ",
                                     server.status().message()));
  }
  log::Info(absl::StrCat("[coordinator] job '", batch.job_id, "' of ", batch.rank.world_size,
                         " rank(s) served by rank 0 (", batch.rank.source, ") on ",
                         batch.address()));
  return std::unique_ptr<EmbeddedCoordinator>(new EmbeddedCoordinator(std::move(*server)));
}

EmbeddedCoordinator::~EmbeddedCoordinator() { Shutdown(); }

zc::JobPhase EmbeddedCoordinator::AwaitJobEnd(absl::Time deadline) {
  zc::CoordinatorService& service = server_->service();
  zc::JobPhase phase = service.phase();
  while (!zc::IsTerminal(phase) && absl::Now() < deadline) {
    phase = service.AwaitPhaseChange(phase, std::min(deadline, absl::Now() + absl::Milliseconds(100)));
  }
  return phase;
}

void EmbeddedCoordinator::PrintFailureReportOnce() {
  const std::string report = server_->service().FailureReport();
  if (report.empty() || reported_.exchange(true)) return;
  log::Error(report);
}

void EmbeddedCoordinator::Shutdown() {
  if (shut_down_.exchange(true)) return;
  absl::SleepFor(absl::Milliseconds(200));  // the ranks' watch streams read the last event
  server_->Shutdown(absl::Milliseconds(500));
}

}  // namespace zt::worker
