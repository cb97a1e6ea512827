// What a launcher needs of the job whose ranks it runs, and what it reports: the coordinator's
// service implements LaunchedJob (coordinator/coordinator_service.h), so launch/ depends on no
// coordinator code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace zt::launch {

// How a rank process ended, as its launcher saw it.
struct ProcessExit {
  int64_t pid = 0;
  int launch_rank = -1;  // the rank the launcher gave it (RANK), for deaths before Register
  std::string host;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string error_json;  // the contents of its error file, if any
  std::string error_file;  // that file's path, when it exists
  absl::Time time;
  bool killed_by_launcher = false;  // after the abort grace: not evidence of anything
};

// Where the job stands, as far as its launcher acts on it.
enum class JobProgress {
  kActive,      // ranks run (or have not registered yet)
  kRestarting,  // every rank must go, then the next generation starts
  kEnded,       // succeeded, failed or stopped: every rank must go
};

// The job a launcher runs ranks for: the coordinator's service (coordinator::CoordinatorService)
// decides; the launcher spawns, reports exits and kills. Called from the launcher's thread only.
class LaunchedJob {
 public:
  virtual ~LaunchedJob() = default;
  virtual JobProgress progress() const = 0;
  // The restart generation the ranks spawned now belong to (TORCHELASTIC_RESTART_COUNT).
  virtual int64_t generation() const = 0;
  virtual void OnProcessExit(const ProcessExit& exit) = 0;
  // Once every rank of a restarting job is gone: the next generation's ranks may start.
  virtual absl::Status BeginNextGeneration() = 0;
  // Checkpoint-and-stop: the step at which every rank checkpoints, or an error when the job
  // cannot do that now.
  virtual absl::StatusOr<int64_t> RequestCheckpointStop(const std::string& reason) = 0;
  virtual void Abort(const std::string& reason) = 0;
};

}  // namespace zt::launch
