// The rank side of the coordinator protocol, torch-free: registration (the rendezvous), a
// heartbeat thread, a WatchJob thread acting on job events, torchrun error files, and the
// SIGTERM/SIGINT handler that turns preemption into a job-wide "checkpoint, then stop".
//
// What happens without the caller's involvement:
//  - ABORT for this generation (a peer failed): abort hooks run (e.g. Communicator::Abort),
//    then the process exits with kExitAborted;
//  - no successful heartbeat for the heartbeat timeout (coordinator gone): exit
//    kExitCoordinatorLost — under mpirun/srun every rank exits instead of hanging;
//  - SIGTERM/SIGINT: reported to the coordinator, which answers every rank with
//    CHECKPOINT_AND_STOP; stop_step() then says where the loop must checkpoint and stop.
// Started by srun/mpirun without ZEROTUNE_COORDINATOR (batch_coordinator.h), rank 0 also
// hosts the coordinator (embedded_coordinator.h) and, on destruction, keeps it up until the
// job is over; every rank checks that the coordinator's rank equals its launcher's rank.
// Thread-safe. One WorkerRuntime per process (it owns the signal handlers).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/coordinator_client.h"
#include "sharding/collectives/store.h"
#include "worker/runtime/batch_coordinator.h"
#include "worker/runtime/embedded_coordinator.h"

namespace zt::worker {

struct WorkerRuntimeOptions {
  coordinator::ClientOptions client;
  std::string host;        // ZEROTUNE_HOST, else this machine's host name
  int device = 0;          // LOCAL_RANK
  int64_t generation = 0;  // TORCHELASTIC_RESTART_COUNT
  std::string error_file;  // TORCHELASTIC_ERROR_FILE
  absl::Duration register_timeout = absl::Minutes(10);
  bool exit_on_abort = true;  // false in tests: aborted() turns true instead
  // Set when a batch launcher started this rank (no ZEROTUNE_COORDINATOR).
  std::optional<BatchCoordinator> batch;
  // Where rank 0's in-process coordinator (under `batch`) writes metrics.jsonl, metrics.csv
  // and trainer_state.json, as `zerotune launch`'s does in its --output_dir; empty: none.
  std::string metrics_dir;

  // From the environment `zerotune launch` sets (or the user exports for `zerotune serve`),
  // else from srun's / mpirun's (DiscoverBatchCoordinator).
  static absl::StatusOr<WorkerRuntimeOptions> FromEnv();
};

class WorkerRuntime {
 public:
  // Registers and blocks until every rank registered or the timeout; then starts the
  // heartbeat and watch threads and installs the signal handlers.
  static absl::StatusOr<std::unique_ptr<WorkerRuntime>> Start(WorkerRuntimeOptions options);
  ~WorkerRuntime();

  int rank() const { return assignment_.rank(); }
  int world_size() const { return assignment_.world_size(); }
  const proto::RegisterWorkerReply& assignment() const { return assignment_; }
  // The coordinator's store scoped to this job and generation.
  std::shared_ptr<sharding::Store> store() const { return store_; }
  coordinator::CoordinatorClient& client() { return *client_; }

  void SetStep(int64_t step) { step_ = step; }
  std::optional<int64_t> stop_step() const;
  bool aborted() const { return aborted_; }

  absl::Status Barrier(const std::string& name, absl::Time deadline);
  absl::Status ReportMetrics(int64_t step, int64_t max_steps, double epoch,
                             const std::map<std::string, double>& values);
  absl::Status ReportFinished();
  absl::Status ReportStopped();
  // Writes the error file (torchrun JSON) and reports the failure; best effort. Does nothing
  // after an abort (the error is its consequence).
  void ReportFailure(const absl::Status& error);
  // Runs before the process exits on ABORT (from the watch thread).
  void AddAbortHook(std::function<void(const std::string& reason)> hook);

  // "[rank r] " for log lines.
  std::string LogPrefix() const;
  // "[rank r] <message>" through the log facility (common/log.h, info level; Create set the
  // process's rank), one write per line, so ranks' lines never interleave.
  void Log(const std::string& message) const;

 private:
  WorkerRuntime(WorkerRuntimeOptions options, std::shared_ptr<coordinator::CoordinatorClient> client,
                proto::RegisterWorkerReply assignment, std::shared_ptr<sharding::Store> store);
  void HeartbeatLoop();
  void WatchLoop();
  void OnEvent(const proto::JobEvent& event);
  void Abort(const std::string& reason, int exit_code);

  WorkerRuntimeOptions options_;
  std::shared_ptr<coordinator::CoordinatorClient> client_;
  // Its own channel with a deadline of half the heartbeat timeout: a coordinator that stopped
  // answering (a cut link: no reset) is noticed within the timeout, not the RPC default.
  std::unique_ptr<coordinator::CoordinatorClient> heartbeat_client_;
  proto::RegisterWorkerReply assignment_;
  std::shared_ptr<sharding::Store> store_;
  std::unique_ptr<EmbeddedCoordinator> embedded_;  // rank 0 under srun/mpirun
  std::atomic<int64_t> step_{0};
  std::atomic<int64_t> stop_step_{-1};
  std::atomic<bool> aborted_{false};

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<grpc::ClientContext> watch_context_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(const std::string&)>> abort_hooks_ ABSL_GUARDED_BY(mu_);
  std::thread heartbeat_thread_;
  std::thread watch_thread_;
};

}  // namespace zt::worker
