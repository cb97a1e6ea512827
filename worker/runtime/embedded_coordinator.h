// The coordinator inside rank 0's process, for ranks a batch launcher (srun, mpirun) started:
// it listens on every interface at the discovered port, serves one job of the launcher's world
// size that cannot restart ranks (a failure fails the job, every rank is told to abort and
// exits non-zero; a lost rank is noticed by its missing heartbeats), and stays up after rank
// 0's own work until the job is over, so slower ranks can still report. Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/coordinator_server.h"
#include "worker/runtime/batch_coordinator.h"

namespace zt::worker {

class EmbeddedCoordinator {
 public:
  // Unavailable naming the port and MASTER_PORT when it cannot bind. With a non-empty
  // `metrics_dir` the service writes the job's metrics files there (coordinator/metrics_writer.h),
  // as `zerotune launch`'s coordinator does in the job's output_dir.
  static absl::StatusOr<std::unique_ptr<EmbeddedCoordinator>> Start(
      const BatchCoordinator& batch, const std::string& metrics_dir = "");
  ~EmbeddedCoordinator();

  // Blocks until the job reached succeeded, failed or stopped, or `deadline`.
  coordinator::JobPhase AwaitJobEnd(absl::Time deadline);
  // Writes the root-cause report to stderr once (later calls and a job without failure: nothing).
  void PrintFailureReportOnce();
  // Lets the ranks read the final event, then stops the server (idempotent).
  void Shutdown();

 private:
  explicit EmbeddedCoordinator(std::unique_ptr<coordinator::CoordinatorServer> server)
      : server_(std::move(server)) {}

  std::unique_ptr<coordinator::CoordinatorServer> server_;
  std::atomic<bool> shut_down_{false};
  std::atomic<bool> reported_{false};
};

}  // namespace zt::worker
