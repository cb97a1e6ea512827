#include "launch/local_launcher.h"

#include <csignal>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "launch/rank_environment.h"

namespace zt::launch {
namespace {

// Variables the launcher sets itself: inherited values are dropped.
bool IsContractVariable(absl::string_view entry) {
  static const char* const kNames[] = {
      "RANK=", "LOCAL_RANK=", "WORLD_SIZE=", "LOCAL_WORLD_SIZE=", "GROUP_RANK=", "MASTER_ADDR=",
      "MASTER_PORT=", "TORCHELASTIC_RESTART_COUNT=", "TORCHELASTIC_MAX_RESTARTS=",
      "TORCHELASTIC_RUN_ID=", "TORCHELASTIC_ERROR_FILE=", "ZEROTUNE_COORDINATOR=",
      "ZEROTUNE_TOKEN=", "ZEROTUNE_TLS_CA=", "ZEROTUNE_HOST="};
  for (const char* name : kNames) {
    if (absl::StartsWith(entry, name)) return true;
  }
  return false;
}

std::string ErrorFilePath(const LaunchOptions& options, const RankPlacement& placement, int rank) {
  return options.error_dir.empty() || placement.remote
             ? ""
             : absl::StrCat(options.error_dir, "/rank", rank, ".json");
}

// The error file's text, or "" when it does not exist.
std::string ReadErrorFileIfAny(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path);
  if (!in) return "";
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::vector<RankPlacement> Placements(const LaunchOptions& options) {
  if (!options.placements.empty()) return options.placements;
  std::vector<RankPlacement> placements;
  for (int local_rank = 0; local_rank < options.nproc_per_node; ++local_rank) {
    placements.push_back(RankPlacement{options.host, false, local_rank, options.nproc_per_node, 0, ""});
  }
  return placements;
}

std::vector<std::string> RankProcessEnvironment(const LaunchOptions& options, int rank,
                                                int64_t restart_count) {
  const std::vector<RankPlacement> placements = Placements(options);
  const RankPlacement& placement = placements[rank];
  std::vector<std::string> env;
  bool has_async_error_handling = false;
  for (const std::string& entry : placement.remote ? options.remote_env : options.base_env) {
    if (IsContractVariable(entry)) continue;
    if (!placement.visible_devices.empty() && absl::StartsWith(entry, "CUDA_VISIBLE_DEVICES=")) continue;
    if (absl::StartsWith(entry, "TORCH_NCCL_ASYNC_ERROR_HANDLING=")) has_async_error_handling = true;
    env.push_back(entry);
  }
  const std::vector<std::string> address = absl::StrSplit(options.coordinator_address, ':');
  const int world = static_cast<int>(placements.size());
  env.push_back(absl::StrCat("RANK=", rank));
  env.push_back(absl::StrCat("LOCAL_RANK=", placement.local_rank));
  env.push_back(absl::StrCat("WORLD_SIZE=", world));
  env.push_back(absl::StrCat("LOCAL_WORLD_SIZE=", placement.local_world_size));
  env.push_back(absl::StrCat("GROUP_RANK=", placement.node_rank));
  if (!placement.visible_devices.empty()) {
    env.push_back(absl::StrCat("CUDA_VISIBLE_DEVICES=", placement.visible_devices));
  }
  env.push_back(absl::StrCat("MASTER_ADDR=", address.empty() ? "" : address.front()));
  env.push_back(absl::StrCat("MASTER_PORT=", address.size() > 1 ? address.back() : ""));
  env.push_back(absl::StrCat("TORCHELASTIC_RESTART_COUNT=", restart_count));
  env.push_back(absl::StrCat("TORCHELASTIC_MAX_RESTARTS=", options.max_restarts));
  env.push_back(absl::StrCat("TORCHELASTIC_RUN_ID=", options.job_id));
  if (const std::string file = ErrorFilePath(options, placement, rank); !file.empty()) {
    env.push_back(absl::StrCat("TORCHELASTIC_ERROR_FILE=", file));
  }
  if (!has_async_error_handling) env.push_back("TORCH_NCCL_ASYNC_ERROR_HANDLING=1");
  env.push_back(absl::StrCat(kEnvCoordinator, "=", options.coordinator_address));
  env.push_back(absl::StrCat(kEnvToken, "=", options.token));
  if (!options.tls_ca_file.empty()) env.push_back(absl::StrCat(kEnvTlsCa, "=", options.tls_ca_file));
  env.push_back(absl::StrCat(kEnvHost, "=", placement.host));
  return env;
}

LocalLauncher::LocalLauncher(LaunchOptions options, LaunchedJob* job, ProcessSpawner* spawner,
                             NowFunction now)
    : options_(std::move(options)), job_(job), spawner_(spawner), now_(std::move(now)) {}

absl::Status LocalLauncher::SpawnAll() {
  const int64_t generation = job_->generation();
  children_.clear();
  const std::vector<RankPlacement> placements = Placements(options_);
  for (int rank = 0; rank < static_cast<int>(placements.size()); ++rank) {
    const RankPlacement& placement = placements[rank];
    const std::string error_file = ErrorFilePath(options_, placement, rank);
    if (!error_file.empty()) std::remove(error_file.c_str());  // a stale file is no evidence
    SpawnSpec spec;
    spec.argv = options_.worker_argv;
    spec.env = RankProcessEnvironment(options_, rank, generation);
    spec.host = placement.remote ? placement.host : "";
    absl::StatusOr<int64_t> pid = spawner_->Spawn(spec);
    if (!pid.ok()) return pid.status();
    children_.push_back(Child{*pid, rank, true});
  }
  return absl::OkStatus();
}

void LocalLauncher::ReapExited() {
  for (Child& child : children_) {
    if (!child.alive) continue;
    std::optional<ChildExit> exit = spawner_->TryReap(child.pid);
    if (!exit) continue;
    child.alive = false;
    ProcessExit report;
    report.pid = child.pid;
    const RankPlacement placement = Placements(options_)[child.rank];
    report.launch_rank = child.rank;
    report.host = placement.host;
    report.exit_code = exit->exit_code;
    report.signal = exit->signal;
    const std::string error_file = ErrorFilePath(options_, placement, child.rank);
    report.error_json = ReadErrorFileIfAny(error_file);
    if (!report.error_json.empty()) report.error_file = error_file;
    report.time = now_();
    report.killed_by_launcher = child.killed;
    job_->OnProcessExit(report);
  }
}

bool LocalLauncher::AnyAlive() const {
  for (const Child& child : children_) {
    if (child.alive) return true;
  }
  return false;
}

std::vector<int64_t> LocalLauncher::live_pids() const {
  std::vector<int64_t> pids;
  for (const Child& child : children_) {
    if (child.alive) pids.push_back(child.pid);
  }
  return pids;
}

void LocalLauncher::HandleStopRequests() {
  const int requests = stop_requests_.load();
  if (requests == stop_requests_handled_) return;
  if (stop_requests_handled_ == 0) {
    absl::StatusOr<int64_t> step = job_->RequestCheckpointStop("signal on the launcher");
    if (step.ok()) {
      log::Info(absl::StrCat("[launcher] stop requested: every rank checkpoints at step ", *step,
                             ", then stops (signal again to abort)"));
    } else {
      job_->Abort(absl::StrCat("signal on the launcher (", step.status().message(), ")"));
    }
  } else {
    job_->Abort("second signal on the launcher");
  }
  stop_requests_handled_ = requests;
}

absl::Status LocalLauncher::Run(const std::function<void()>& on_poll) {
  if (absl::Status status = SpawnAll(); !status.ok()) return status;
  std::optional<absl::Time> teardown_since;
  while (true) {
    ReapExited();
    HandleStopRequests();
    if (on_poll) on_poll();
    const JobProgress progress = job_->progress();
    if (progress != JobProgress::kActive) {
      if (AnyAlive()) {
        if (!teardown_since) teardown_since = now_();
        if (now_() - *teardown_since >= options_.abort_grace) {
          for (Child& child : children_) {
            if (!child.alive || child.killed) continue;
            spawner_->SignalGroup(child.pid, SIGKILL);
            child.killed = true;
          }
        }
      } else if (progress == JobProgress::kRestarting) {
        teardown_since.reset();
        if (absl::Status status = job_->BeginNextGeneration(); !status.ok()) return status;
        log::Warn(absl::StrCat("[launcher] restarting every rank as generation ",
                               job_->generation(), " (restart ", job_->generation(), " of ",
                               options_.max_restarts, ")"));
        if (absl::Status status = SpawnAll(); !status.ok()) return status;
      } else {
        return absl::OkStatus();
      }
    }
    absl::SleepFor(options_.poll_interval);
  }
}

}  // namespace zt::launch
