// Runs the ranks of a job for a coordinator in the same process (`zerotune launch`): spawns
// them with torchrun's environment contract, feeds their exits to the job (the coordinator's
// service, through LaunchedJob), and carries out what the job state decides: after a failure
// every rank is told to abort (by the service's WatchJob stream), gets `abort_grace` to exit,
// then its process group is killed; then, while the job-wide restart budget lasts, all ranks
// start again as the next generation.
//
// Per-rank environment: RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK,
// MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RESTART_COUNT, TORCHELASTIC_MAX_RESTARTS,
// TORCHELASTIC_RUN_ID, TORCHELASTIC_ERROR_FILE, TORCH_NCCL_ASYNC_ERROR_HANDLING (kept when
// set), and the coordinator's ZEROTUNE_COORDINATOR / ZEROTUNE_TOKEN / ZEROTUNE_TLS_CA /
// ZEROTUNE_HOST. The token goes only through the environment, never argv.
//
// Multi-node (`--hostfile`): `placements` lists every rank in rank order (node-major,
// hostfile order); remote ranks get `remote_env` instead of the inherited environment, plus
// CUDA_VISIBLE_DEVICES (that host's selected slots), and go to the spawner with their host
// (SshSpawner). Their error files are not read here (they are on the other host); the rank
// reports its error to the coordinator itself.
//
// Not thread-safe except RequestStop(), which may be called from any thread or a signal
// handler's helper thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "launch/launched_job.h"
#include "launch/process_spawner.h"

namespace zt::launch {

// The time source of the abort grace and of exit reports (a fake one in tests).
using NowFunction = std::function<absl::Time()>;

// One rank of a multi-node job.
struct RankPlacement {
  std::string host;     // as the hostfile names it (ZEROTUNE_HOST, the coordinator's node)
  bool remote = false;  // started over ssh
  int local_rank = 0;
  int local_world_size = 1;
  int node_rank = 0;
  std::string visible_devices;  // CUDA_VISIBLE_DEVICES, e.g. "0,2"; "" = not set
};

struct LaunchOptions {
  int nproc_per_node = 1;
  std::vector<RankPlacement> placements;  // empty: nproc_per_node ranks on `host`
  std::vector<std::string> remote_env;    // base environment of remote ranks
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

// Every rank's placement: `placements`, or nproc_per_node local ranks on `host`.
std::vector<RankPlacement> Placements(const LaunchOptions& options);

// The environment of rank `rank` in restart generation `restart_count`.
std::vector<std::string> RankProcessEnvironment(const LaunchOptions& options, int rank,
                                                int64_t restart_count);

class LocalLauncher {
 public:
  // `job` and `spawner` must outlive the launcher.
  LocalLauncher(LaunchOptions options, LaunchedJob* job, ProcessSpawner* spawner, NowFunction now);

  // Runs the job until it succeeded, failed or stopped, and every rank process is gone (the
  // job tells which). `on_poll` runs on each poll (progress line). Internal when a rank
  // cannot be spawned.
  absl::Status Run(const std::function<void()>& on_poll = nullptr);

  // Preemption of the launcher: the first call asks for checkpoint-and-stop, the second
  // aborts. Async-signal-safe (sets a flag the loop reads).
  void RequestStop() { stop_requests_.fetch_add(1); }

  // pids of the live rank processes (tests, status).
  std::vector<int64_t> live_pids() const;

 private:
  struct Child {
    int64_t pid = 0;
    int rank = 0;
    bool alive = false;
    bool killed = false;  // we sent SIGKILL after the abort grace
  };
  absl::Status SpawnAll();
  void ReapExited();
  void HandleStopRequests();
  bool AnyAlive() const;

  LaunchOptions options_;
  LaunchedJob* job_;
  ProcessSpawner* spawner_;
  NowFunction now_;
  std::vector<Child> children_;
  std::atomic<int> stop_requests_{0};
  int stop_requests_handled_ = 0;
};

}  // namespace zt::launch
