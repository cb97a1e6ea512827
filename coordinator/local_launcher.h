// Runs the ranks of one node for a coordinator in the same process (`zerotune launch`): spawns
// them with torchrun's environment contract, feeds their exits to the service, and carries out
// what the job state decides: after a failure every rank is told to abort (by the service's
// WatchJob stream), gets `abort_grace` to exit, then its process group is killed; then, while
// the job-wide restart budget lasts, all ranks start again as the next generation.
//
// Per-rank environment: RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK,
// MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RESTART_COUNT, TORCHELASTIC_MAX_RESTARTS,
// TORCHELASTIC_RUN_ID, TORCHELASTIC_ERROR_FILE, TORCH_NCCL_ASYNC_ERROR_HANDLING (kept when
// set), and the coordinator's ZEROTUNE_COORDINATOR / ZEROTUNE_TOKEN / ZEROTUNE_TLS_CA /
// ZEROTUNE_HOST. The token goes only through the environment, never argv.
//
// Not thread-safe except RequestStop(), which may be called from any thread or a signal
// handler's helper thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/clock.h"
#include "coordinator/coordinator_service.h"
#include "coordinator/process_spawner.h"

namespace zt::coordinator {

struct LaunchOptions {
  int nproc_per_node = 1;
  std::vector<std::string> worker_argv;  // what each rank runs
  std::vector<std::string> base_env;     // inherited environment, "NAME=value"
  std::string host = "localhost";        // this node's name as ranks register it
  std::string coordinator_address;       // host:port
  std::string token;
  std::string tls_ca_file;
  std::string job_id;
  int max_restarts = 0;
  std::string error_dir;  // per-rank torchrun error files; empty = none
  absl::Duration abort_grace = absl::Seconds(5);
  absl::Duration poll_interval = absl::Milliseconds(10);
};

// The environment of local rank `local_rank` in restart generation `restart_count`.
std::vector<std::string> RankEnvironment(const LaunchOptions& options, int local_rank,
                                         int64_t restart_count);

class LocalLauncher {
 public:
  // `service`, `spawner` and `clock` must outlive the launcher.
  LocalLauncher(LaunchOptions options, CoordinatorService* service, ProcessSpawner* spawner,
                Clock* clock);

  // Runs the job until it succeeded, failed or stopped, and every rank process is gone.
  // `on_poll` runs on each poll (progress line). Returns the final phase; Internal when a
  // rank cannot be spawned.
  absl::StatusOr<JobPhase> Run(const std::function<void()>& on_poll = nullptr);

  // Preemption of the launcher: the first call asks for checkpoint-and-stop, the second
  // aborts. Async-signal-safe (sets a flag the loop reads).
  void RequestStop() { stop_requests_.fetch_add(1); }

  // pids of the live rank processes (tests, status).
  std::vector<int64_t> live_pids() const;

 private:
  struct Child {
    int64_t pid = 0;
    int local_rank = 0;
    bool alive = false;
    bool killed = false;  // we sent SIGKILL after the abort grace
  };
  absl::Status SpawnAll();
  void ReapExited();
  void HandleStopRequests();
  bool AnyAlive() const;

  LaunchOptions options_;
  CoordinatorService* service_;
  ProcessSpawner* spawner_;
  Clock* clock_;
  std::vector<Child> children_;
  std::atomic<int> stop_requests_{0};
  int stop_requests_handled_ = 0;
};

}  // namespace zt::coordinator
