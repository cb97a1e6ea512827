#include "coordinator/job_state.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "coordinator/protocol.h"

namespace zt::coordinator {

const char* JobPhaseName(JobPhase phase) {
  switch (phase) {
    case JobPhase::kPending: return "pending";
    case JobPhase::kRendezvous: return "rendezvous";
    case JobPhase::kRunning: return "running";
    case JobPhase::kRestarting: return "restarting";
    case JobPhase::kSucceeded: return "succeeded";
    case JobPhase::kFailed: return "failed";
    case JobPhase::kStopped: return "stopped";
  }
  return "unknown";
}

bool IsTerminal(JobPhase phase) {
  return phase == JobPhase::kSucceeded || phase == JobPhase::kFailed || phase == JobPhase::kStopped;
}

JobState::JobState(JobOptions options, absl::Time now)
    : options_(std::move(options)), phase_since_(now) {}

void JobState::Enter(JobPhase phase, absl::Time now) {
  phase_ = phase;
  phase_since_ = now;
}

void JobState::Emit(proto::JobEvent::Kind kind, int64_t step, const std::string& reason) {
  proto::JobEvent event;
  event.set_kind(kind);
  event.set_step(step);
  event.set_generation(generation_);
  event.set_reason(reason);
  events_.push_back(std::move(event));
}

std::vector<proto::JobEvent> JobState::TakeEvents() {
  std::vector<proto::JobEvent> events;
  events.swap(events_);
  return events;
}

absl::StatusOr<int> JobState::Register(int64_t generation, const Registration& registration,
                                       absl::Time now) {
  if (generation != generation_) {
    return absl::AbortedError(absl::StrCat("registration for restart generation ", generation,
                                           " but the job is at generation ", generation_,
                                           "; this process belongs to an earlier attempt"));
  }
  if (phase_ != JobPhase::kPending && phase_ != JobPhase::kRendezvous) {
    return absl::FailedPreconditionError(absl::StrCat("job '", options_.job_id, "' is ",
                                                      JobPhaseName(phase_),
                                                      " and admits no new ranks"));
  }
  for (const RankInfo& other : ranks_) {
    if (other.registration.host == registration.host &&
        other.registration.device == registration.device) {
      return absl::AlreadyExistsError(absl::StrCat(
          "duplicate (host, device) pair: '", registration.host, "' device ", registration.device,
          " (pid ", registration.pid, ") is already registered by pid ", other.registration.pid,
          "; each rank needs its own device (check --num_gpus, CUDA_VISIBLE_DEVICES or "
          "--ntasks-per-node against the GPUs per node)"));
    }
  }
  if (registered() >= options_.world_size) {
    return absl::ResourceExhaustedError(absl::StrCat("job '", options_.job_id, "' already has all ",
                                                     options_.world_size, " ranks registered"));
  }
  RankInfo info;
  info.registration = registration;
  info.last_heartbeat = now;
  ranks_.push_back(std::move(info));
  if (phase_ == JobPhase::kPending) {
    Enter(JobPhase::kRendezvous, now);
    rendezvous_started_ = now;
  }
  const int slot = registered() - 1;
  if (registered() == options_.world_size) AssignRanks(now);
  return slot;
}

bool JobState::Withdraw(int slot, absl::Time now) {
  if (assigned_ || phase_ != JobPhase::kRendezvous) return false;
  if (slot < 0 || slot >= registered()) return false;
  ranks_.erase(ranks_.begin() + slot);
  if (ranks_.empty()) Enter(JobPhase::kPending, now);
  return true;
}

// Node-major: nodes in hostfile order (then by name), devices ascending within a node.
void JobState::AssignRanks(absl::Time now) {
  auto node_key = [this](const std::string& host) {
    auto it = std::find(options_.node_order.begin(), options_.node_order.end(), host);
    return std::make_pair(static_cast<int>(it - options_.node_order.begin()), host);
  };
  std::vector<int> order(ranks_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    const Registration& ra = ranks_[a].registration;
    const Registration& rb = ranks_[b].registration;
    return std::make_tuple(node_key(ra.host), ra.device) <
           std::make_tuple(node_key(rb.host), rb.device);
  });
  rank_to_slot_.assign(ranks_.size(), -1);
  int node_rank = -1;
  std::string node;
  std::vector<int> node_of_rank(ranks_.size());
  for (size_t rank = 0; rank < order.size(); ++rank) {
    RankInfo& info = ranks_[order[rank]];
    if (rank == 0 || info.registration.host != node) {
      node = info.registration.host;
      ++node_rank;
    }
    info.rank = static_cast<int>(rank);
    info.node_rank = node_rank;
    info.last_heartbeat = now;
    rank_to_slot_[rank] = order[rank];
  }
  for (RankInfo& info : ranks_) {
    int local_rank = 0;
    int local_world = 0;
    for (const RankInfo& other : ranks_) {
      if (other.node_rank != info.node_rank) continue;
      ++local_world;
      if (other.rank < info.rank) ++local_rank;
    }
    info.local_rank = local_rank;
    info.local_world_size = local_world;
  }
  assigned_ = true;
  Enter(JobPhase::kRunning, now);
}

int JobState::RankIndex(int rank) const {
  if (!assigned_ || rank < 0 || rank >= static_cast<int>(rank_to_slot_.size())) return -1;
  return rank_to_slot_[rank];
}

absl::Status JobState::CheckMember(int64_t generation, int rank) const {
  if (generation != generation_) {
    return absl::AbortedError(absl::StrCat("request from restart generation ", generation,
                                           ", the job is at generation ", generation_));
  }
  if (RankIndex(rank) < 0) {
    return absl::NotFoundError(absl::StrCat("rank ", rank, " is not a member of generation ",
                                            generation_, " (", registered(), " of ",
                                            options_.world_size, " registered)"));
  }
  return absl::OkStatus();
}

absl::Status JobState::Heartbeat(int64_t generation, int rank, int64_t step, absl::Time now) {
  if (absl::Status status = CheckMember(generation, rank); !status.ok()) return status;
  RankInfo& info = ranks_[RankIndex(rank)];
  info.last_heartbeat = now;
  info.step = step;
  NoteStep(step);
  return absl::OkStatus();
}

void JobState::RankFailed(RankFailure failure) {
  failure.generation = generation_;
  if (failure.rank >= 0 && RankIndex(failure.rank) >= 0 && failure.host.empty()) {
    failure.host = ranks_[RankIndex(failure.rank)].registration.host;
  }
  const bool active = phase_ == JobPhase::kPending || phase_ == JobPhase::kRendezvous ||
                      phase_ == JobPhase::kRunning;
  if (!active) {
    EarlierFailure(std::move(failure));
    return;
  }
  const absl::Time when = failure.time;
  // The rank's own message is not repeated here: each rank prints this reason, and the
  // failure report prints the message once.
  const std::string reason =
      absl::StrCat("rank ", failure.rank, " on ", failure.host, " failed (", failure.reason, ")");
  // Bad input (a rank's exit status 2: a flag, file or config it refused) fails the same way
  // on every attempt: restarting it only repeats the error.
  const bool bad_input = failure.exit_code.has_value() && *failure.exit_code == kExitBadInput;
  failures_.push_back(std::move(failure));
  if (bad_input) {
    Enter(JobPhase::kFailed, when);
    Emit(proto::JobEvent::ABORT, max_step_,
         absl::StrCat(reason, "; not restarted: exit status ", kExitBadInput,
                      " means bad input (a flag, file or config), which a restart repeats"));
  } else if (options_.can_restart && restart_count_ < options_.max_restarts) {
    Enter(JobPhase::kRestarting, when);
    Emit(proto::JobEvent::ABORT, max_step_, absl::StrCat(reason, "; restarting (restart ",
                                                         restart_count_ + 1, " of ",
                                                         options_.max_restarts, ")"));
  } else {
    Enter(JobPhase::kFailed, when);
    Emit(proto::JobEvent::ABORT, max_step_,
         absl::StrCat(reason, "; no restarts left (max_restarts ", options_.max_restarts, ")"));
  }
}

bool JobState::EarlierFailure(RankFailure failure) {
  const RankFailure* root = RootCause();
  if (root == nullptr || root->generation != generation_ || !(failure.time < root->time)) {
    return false;
  }
  if (root->observed_exit && !failure.observed_exit && root->time - failure.time < kDeathSettle) {
    return false;  // a peer saw the death's socket close before the launcher reaped it
  }
  for (const RankFailure& known : failures_) {
    if (known.generation == generation_ && failure.pid != 0 && known.pid == failure.pid) {
      return false;  // that process's failure is known; NoteProcessExit completes it
    }
  }
  failure.generation = generation_;
  if (failure.rank >= 0 && RankIndex(failure.rank) >= 0 && failure.host.empty()) {
    failure.host = ranks_[RankIndex(failure.rank)].registration.host;
  }
  failures_.push_back(std::move(failure));
  return true;
}

void JobState::NoteProcessExit(int64_t pid, std::optional<int> exit_code, std::optional<int> signal,
                               const std::string& error_file) {
  for (RankFailure& failure : failures_) {
    if (failure.generation != generation_ || failure.pid != pid || pid == 0) continue;
    if (failure.error_file.empty()) failure.error_file = error_file;
    if (failure.exit_code || failure.signal) continue;
    failure.exit_code = exit_code;
    failure.signal = signal;
  }
}

void JobState::LateProcessDeath(RankFailure failure, absl::Duration settle) {
  const RankFailure* root = RootCause();
  if (root == nullptr || root->generation != generation_ || failure.time - phase_since_ > settle) return;
  // A death already; a reported error's own exit code (NoteProcessExit, e.g. its abort after
  // the report) does not make it one.
  if (root->observed_exit || root->pid == failure.pid) return;
  failure.generation = generation_;
  failure.time = std::min(failure.time, root->time - absl::Nanoseconds(1));
  failure.reason = absl::StrCat(failure.reason, " (before its peers reported errors)");
  failures_.push_back(std::move(failure));
}

void JobState::RankFinished(int rank) {
  const int index = RankIndex(rank);
  if (index < 0 || phase_ != JobPhase::kRunning) return;
  ranks_[index].finished = true;
  for (const RankInfo& info : ranks_) {
    if (!info.finished) return;
  }
  Enter(JobPhase::kSucceeded, phase_since_);
  Emit(proto::JobEvent::SUCCEEDED, max_step_, "every rank finished");
}

void JobState::RankStopped(int rank) {
  const int index = RankIndex(rank);
  if (index < 0 || phase_ != JobPhase::kRunning) return;
  ranks_[index].stopped = true;
  for (const RankInfo& info : ranks_) {
    if (!info.stopped && !info.finished) return;
  }
  Enter(JobPhase::kStopped, phase_since_);
}

absl::StatusOr<int64_t> JobState::RequestCheckpointStop(const std::string& reason) {
  if (stop_step_) return *stop_step_;
  if (phase_ != JobPhase::kRunning && phase_ != JobPhase::kPending &&
      phase_ != JobPhase::kRendezvous) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot checkpoint-and-stop job '", options_.job_id, "' while it is ", JobPhaseName(phase_)));
  }
  stop_step_ = max_step_ + 1;
  Emit(proto::JobEvent::CHECKPOINT_AND_STOP, *stop_step_, reason);
  return *stop_step_;
}

void JobState::Abort(const std::string& reason, absl::Time now) {
  if (IsTerminal(phase_)) return;
  RankFailure failure;
  failure.time = now;
  failure.reason = reason;
  failure.generation = generation_;
  failures_.push_back(failure);
  Enter(JobPhase::kFailed, now);
  Emit(proto::JobEvent::ABORT, max_step_, reason);
}

void JobState::Tick(absl::Time now) {
  if (phase_ != JobPhase::kRunning) return;
  std::vector<RankFailure> silent;
  for (const RankInfo& info : ranks_) {
    if (info.finished || info.stopped) continue;
    const absl::Duration age = now - info.last_heartbeat;
    if (age <= options_.heartbeat_timeout) continue;
    RankFailure failure;
    failure.rank = info.rank;
    failure.host = info.registration.host;
    failure.pid = info.registration.pid;
    failure.time = info.last_heartbeat + options_.heartbeat_timeout;
    failure.reason = absl::StrCat("no heartbeat for ", absl::FormatDuration(age), " (timeout ",
                                  absl::FormatDuration(options_.heartbeat_timeout), ")");
    silent.push_back(std::move(failure));
  }
  std::sort(silent.begin(), silent.end(),
            [](const RankFailure& a, const RankFailure& b) { return a.time < b.time; });
  for (RankFailure& failure : silent) RankFailed(std::move(failure));
}

absl::Status JobState::BeginNextGeneration(absl::Time now) {
  if (phase_ != JobPhase::kRestarting) {
    return absl::FailedPreconditionError(
        absl::StrCat("BeginNextGeneration while ", JobPhaseName(phase_), ", expected restarting"));
  }
  ++generation_;
  ++restart_count_;
  ranks_.clear();
  rank_to_slot_.clear();
  assigned_ = false;
  stop_step_.reset();
  Enter(JobPhase::kPending, now);
  return absl::OkStatus();
}

const RankFailure* JobState::RootCause() const {
  if (failures_.empty()) return nullptr;
  const int64_t generation = failures_.back().generation;
  const RankFailure* first = nullptr;
  for (const RankFailure& failure : failures_) {
    if (failure.generation != generation) continue;
    if (first == nullptr || failure.time < first->time) first = &failure;
  }
  return first;
}

}  // namespace zt::coordinator
