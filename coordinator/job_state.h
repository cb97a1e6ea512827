// The job state machine: pending → rendezvous → running → succeeded | failed | stopped, and
// running → restarting → pending (next generation) after a failure while the job-wide
// restart budget lasts. Pure logic: time comes in as arguments (fake clocks in tests), and
// the events to broadcast to ranks (abort, checkpoint-and-stop, succeeded) are queued for the
// caller to drain with TakeEvents(). Not thread-safe: the service holds one lock around it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/zerotune.pb.h"

namespace zt::coordinator {

enum class JobPhase { kPending, kRendezvous, kRunning, kRestarting, kSucceeded, kFailed, kStopped };
const char* JobPhaseName(JobPhase phase);
bool IsTerminal(JobPhase phase);

struct JobOptions {
  std::string job_id = "job";
  int world_size = 1;
  // Hosts in hostfile order: node-major ranks follow it; hosts not listed come after it,
  // ordered by name.
  std::vector<std::string> node_order;
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration heartbeat_timeout = absl::Seconds(10);
  int max_restarts = 0;  // one budget for the whole job
  // False when the coordinator did not start the ranks (mpirun/srun): a failure ends the job.
  bool can_restart = true;
};

struct Registration {
  std::string host;
  int device = 0;
  int64_t pid = 0;
  std::string address;  // source address of the rank's connection
};

struct RankInfo {
  Registration registration;
  int rank = -1;
  int local_rank = -1;
  int local_world_size = 0;
  int node_rank = -1;
  int64_t step = 0;
  absl::Time last_heartbeat;
  bool finished = false;
  bool stopped = false;
};

// One failed rank, as torchrun's error report lists it.
struct RankFailure {
  int rank = -1;           // -1 when the process died before it had a rank
  std::string host;
  int64_t pid = 0;
  absl::Time time;         // error-file timestamp when there is one, else when observed
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string error_json;  // the rank's error file (torchrun JSON shape), may be empty
  std::string error_file;  // where that file is on this machine, "" when unknown or remote
  // What the coordinator observed, never the rank's own message (that is in error_json, and
  // printed once, in the failure report): e.g. "no heartbeat for 2.1s (timeout 2s)".
  std::string reason;
  // The launcher saw the process end (a death), rather than the rank reporting its own error.
  bool observed_exit = false;
  int64_t generation = 0;  // set by JobState
};

// How close a process death and a live rank's reported error must be for the death to count as
// the cause, whichever the coordinator hears first: a peer's collective sees the dead rank's
// socket close within milliseconds, while the launcher may reap the dead process later.
inline constexpr absl::Duration kDeathSettle = absl::Seconds(1);

class JobState {
 public:
  JobState(JobOptions options, absl::Time now);

  // Admits one rank process into the current generation and returns its registration slot.
  // Aborted for another generation, AlreadyExists for a (host, device) pair already taken,
  // ResourceExhausted when the world is full, FailedPrecondition when the job is not
  // accepting ranks (restarting or over).
  absl::StatusOr<int> Register(int64_t generation, const Registration& registration,
                               absl::Time now);
  bool rendezvous_complete() const { return phase_ == JobPhase::kRunning || assigned_; }
  // Before the rendezvous completes: expires the participant in registration `slot` (its call
  // timed out or was cancelled, e.g. its process died), as torchrun's rendezvous drops a
  // participant that left before the barrier, so a retry or a restarted process registers
  // again. Later slots move down by one; with no participant left the job is pending again.
  // False (nothing changed) once the rendezvous completed or for an unknown slot.
  bool Withdraw(int slot, absl::Time now);
  // After the rendezvous: the rank assigned to a registration slot.
  const RankInfo& slot(int index) const { return ranks_[index]; }

  // Aborted for another generation; NotFound for an unknown rank.
  absl::Status CheckMember(int64_t generation, int rank) const;
  absl::Status Heartbeat(int64_t generation, int rank, int64_t step, absl::Time now);
  void NoteStep(int64_t step) { max_step_ = std::max(max_step_, step); }

  // Records a failure of the current generation and moves to restarting or failed. Once the
  // generation is being torn down only EarlierFailure() applies.
  void RankFailed(RankFailure failure);
  // During the teardown: records `failure` when it happened before the recorded root cause
  // (its report was slower; torchrun's rule: the first failure in time is the root cause) and
  // returns true; a failure after it is the abort's consequence and is ignored, and so is a
  // reported error less than kDeathSettle before a root cause that is an observed death.
  bool EarlierFailure(RankFailure failure);
  // Completes a recorded failure of process `pid` with how the process ended and, when the
  // launcher knows it, the path of its error file.
  void NoteProcessExit(int64_t pid, std::optional<int> exit_code, std::optional<int> signal,
                       const std::string& error_file = "");
  // A process death observed after the generation failed on an error *reported* by a live
  // rank (e.g. its collective saw the peer's socket close): when it comes within `settle` of
  // that report, the death is the cause and the report its consequence, so it is recorded as
  // having happened first. Otherwise ignored like any failure during teardown.
  void LateProcessDeath(RankFailure failure, absl::Duration settle);
  void RankFinished(int rank);
  void RankStopped(int rank);
  // "Checkpoint at step k+1, then stop", k the highest step any rank reported (before the
  // rendezvous: ranks stop at their first step). Returns the stop step; FailedPrecondition
  // when the job is restarting or over.
  absl::StatusOr<int64_t> RequestCheckpointStop(const std::string& reason);
  // Abort the job without restart (`zerotune stop` without checkpoint).
  void Abort(const std::string& reason, absl::Time now);

  // Fails ranks whose last heartbeat is older than the timeout (running phase only).
  void Tick(absl::Time now);

  // From restarting: the old processes are gone; opens the next generation. FailedPrecondition
  // in any other phase.
  absl::Status BeginNextGeneration(absl::Time now);

  std::vector<proto::JobEvent> TakeEvents();

  JobPhase phase() const { return phase_; }
  int64_t generation() const { return generation_; }
  int restart_count() const { return restart_count_; }
  int registered() const { return static_cast<int>(ranks_.size()); }
  int64_t max_step() const { return max_step_; }
  std::optional<int64_t> stop_step() const { return stop_step_; }
  const JobOptions& options() const { return options_; }
  const std::vector<RankInfo>& ranks() const { return ranks_; }
  // Failures of every generation, in the order they were recorded.
  const std::vector<RankFailure>& failures() const { return failures_; }
  // The failure with the earliest time in the generation that ended the job or caused the
  // last restart; nullptr when nothing failed.
  const RankFailure* RootCause() const;
  absl::Time phase_since() const { return phase_since_; }
  // When the current generation's first rank registered.
  absl::Time rendezvous_started() const { return rendezvous_started_; }

 private:
  void AssignRanks(absl::Time now);
  void Enter(JobPhase phase, absl::Time now);
  void Emit(proto::JobEvent::Kind kind, int64_t step, const std::string& reason);
  int RankIndex(int rank) const;

  JobOptions options_;
  JobPhase phase_ = JobPhase::kPending;
  absl::Time phase_since_;
  absl::Time rendezvous_started_;
  int64_t generation_ = 0;
  int restart_count_ = 0;
  bool assigned_ = false;
  std::vector<RankInfo> ranks_;  // registration order until assigned, then slot order
  std::vector<int> rank_to_slot_;
  int64_t max_step_ = 0;
  std::optional<int64_t> stop_step_;
  std::vector<RankFailure> failures_;
  std::vector<proto::JobEvent> events_;
};

}  // namespace zt::coordinator
