#include "coordinator/launch_command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "configs/training_arguments.h"
#include "coordinator/coordinator_server.h"
#include "coordinator/job_file.h"
#include "coordinator/progress_line.h"
#include "coordinator/protocol.h"
#include "coordinator/store_limit_flags.h"
#include "launch/local_launcher.h"
#include "launch/process_spawner.h"
#include "launch/ssh_launch_plan.h"
#include "launch/ssh_spawner.h"

extern char** environ;

namespace zt::coordinator {
namespace {

using launch::HostPlan;
using launch::HostPlanRequest;
using launch::LaunchOptions;
using launch::LocalLauncher;
using launch::ProcessSpawner;
using launch::SshOptions;
using launch::SshSpawner;

// Signals reach the launcher loop through this counter (a handler can do nothing else).
std::atomic<int> g_launch_signals{0};
void OnLaunchSignal(int) { g_launch_signals.fetch_add(1); }

// The flag's last value (repeated training flags: the last wins).
std::string FlagValue(const std::vector<std::string>& args, const std::string& flag) {
  std::string value;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag && i + 1 < args.size()) value = args[i + 1];
    if (absl::StartsWith(args[i], flag + "=")) value = args[i].substr(flag.size() + 1);
  }
  return value;
}

// --config FILE: the job file's training arguments go before the command line's, so flags
// given after `--` override them.
absl::Status ApplyJobFile(LaunchRequest& request) {
  if (request.config.empty()) return absl::OkStatus();
  absl::StatusOr<configs::TrainingArguments> job = configs::ReadJobFile(request.config);
  if (!job.ok()) return job.status();
  std::vector<std::string> args = configs::ExplicitArgumentFlags(*job);
  auto rest = request.worker_args.begin();
  if (rest != request.worker_args.end() && !absl::StartsWith(*rest, "-")) {
    args.insert(args.begin(), *rest++);  // a subcommand ("train") stays first
  }
  args.insert(args.end(), rest, request.worker_args.end());
  request.worker_args = std::move(args);
  return absl::OkStatus();
}

std::string DefaultWorker() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    const std::filesystem::path beside = self.parent_path() / "zerotune-worker";
    if (std::filesystem::exists(beside)) return beside.string();
    const std::filesystem::path built = self.parent_path().parent_path() / "worker" / "zerotune-worker";
    if (std::filesystem::exists(built)) return built.string();
  }
  return "zerotune-worker";
}

std::vector<std::string> CurrentEnvironment() {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) env.emplace_back(*entry);
  return env;
}

int ExitCodeFor(JobPhase phase) {
  switch (phase) {
    case JobPhase::kSucceeded: return 0;
    case JobPhase::kStopped: return kExitPreempted;
    default: return 1;
  }
}

std::string WorkerPath(const LaunchRequest& request) {
  if (request.worker.empty()) return DefaultWorker();
  if (request.worker.find('/') == std::string::npos) return request.worker;  // looked up in PATH
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(request.worker, error);
  return error ? request.worker : absolute.lexically_normal().string();
}

std::string CurrentDirectory() {
  std::error_code error;
  const std::filesystem::path cwd = std::filesystem::current_path(error);
  return error ? "/" : cwd.string();
}

// The --hostfile plan; nullopt without one.
absl::StatusOr<std::optional<HostPlan>> PlanFor(const LaunchRequest& request) {
  if (request.hostfile.empty()) return std::optional<HostPlan>();
  HostPlanRequest plan;
  plan.hostfile = request.hostfile;
  plan.selection.include = request.include;
  plan.selection.exclude = request.exclude;
  plan.selection.num_nodes = request.num_nodes;
  plan.selection.num_gpus = request.num_gpus_given ? request.nproc_per_node : -1;
  plan.master_addr = request.master_addr;
  plan.worker = WorkerPath(request);
  plan.cwd = CurrentDirectory();
  plan.env_file = request.env_file;
  plan.ssh.port = request.ssh_port;
  plan.ssh.options = request.ssh_options;
  plan.launcher_env = CurrentEnvironment();
  absl::StatusOr<HostPlan> built = launch::PlanHosts(plan);
  if (!built.ok()) return built.status();
  return std::optional<HostPlan>(*std::move(built));
}

ServiceOptions ServiceOptionsFor(const LaunchRequest& request, const std::string& output_dir,
                                 const std::optional<HostPlan>& plan) {
  ServiceOptions service;
  service.job.job_id = request.job_id.empty() ? absl::StrCat("zt-", getpid()) : request.job_id;
  service.job.world_size = request.nproc_per_node;
  if (plan) {
    service.job.world_size = static_cast<int>(plan->placements.size());
    service.job.node_order = plan->node_order;
  }
  service.job.heartbeat_interval = absl::Milliseconds(request.heartbeat_interval_ms);
  service.job.heartbeat_timeout = absl::Milliseconds(request.heartbeat_timeout_ms);
  service.job.max_restarts = request.max_restarts;
  service.token = GenerateToken();
  service.output_dir = output_dir;
  service.rendezvous_timeout = absl::Seconds(request.rendezvous_timeout_s);
  service.store_limits = request.store_limits;
  return service;
}

LaunchOptions LaunchOptionsFor(const LaunchRequest& request, const ServiceOptions& service,
                               const std::string& address, const std::string& output_dir,
                               const std::optional<HostPlan>& plan) {
  LaunchOptions launch;
  launch.nproc_per_node = request.nproc_per_node;
  if (plan) {
    launch.placements = plan->placements;
    launch.remote_env = plan->remote_env;
  }
  launch.worker_argv = {WorkerPath(request)};
  if (absl::StartsWith(request.worker_args.front(), "-")) launch.worker_argv.push_back("train");
  launch.worker_argv.insert(launch.worker_argv.end(), request.worker_args.begin(),
                            request.worker_args.end());
  launch.base_env = CurrentEnvironment();
  launch.coordinator_address = address;
  launch.token = service.token;
  launch.tls_ca_file = request.tls_cert;
  launch.job_id = service.job.job_id;
  launch.max_restarts = request.max_restarts;
  launch.abort_grace = absl::Milliseconds(request.abort_grace_ms);
  if (!output_dir.empty()) {
    launch.error_dir = output_dir + "/.zerotune/errors";
    std::filesystem::create_directories(launch.error_dir);
  }
  return launch;
}

// Runs the launcher loop with signals forwarded and the progress line drawn.
absl::StatusOr<JobPhase> Supervise(LocalLauncher& launcher, CoordinatorService& service) {
  std::signal(SIGTERM, OnLaunchSignal);
  std::signal(SIGINT, OnLaunchSignal);
  ProgressLine progress(std::cerr, isatty(STDERR_FILENO) != 0);
  int signals_seen = 0;
  const absl::Status run = launcher.Run([&] {
    for (const int now = g_launch_signals.load(); signals_seen < now; ++signals_seen) {
      launcher.RequestStop();
    }
    progress.Update(service.Status(), absl::Now());
  });
  progress.Finish();
  if (!run.ok()) return run;
  return service.phase();
}

}  // namespace

int RunLaunch(const LaunchRequest& given) {
  LaunchRequest request = given;
  if (absl::Status status = ApplyJobFile(request); !status.ok()) {
    log::Error(absl::StrCat("zerotune launch: --config: ", status.message()));
    return 2;
  }
  if (request.worker_args.empty()) {
    log::Error("zerotune launch: nothing to run; expected --config FILE or `-- <worker "
               "arguments>`");
    return 2;
  }
  const std::string output_dir = request.output_dir.empty()
                                     ? FlagValue(request.worker_args, "--output_dir")
                                     : request.output_dir;
  absl::StatusOr<std::optional<HostPlan>> plan = PlanFor(request);
  if (!plan.ok()) {
    log::Error(absl::StrCat("zerotune launch: ", plan.status().message()));
    return plan.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  const ServiceOptions service = ServiceOptionsFor(request, output_dir, *plan);
  std::string bind_address = request.bind_address;
  if (*plan && !request.bind_given) {
    // Remote ranks must reach it: listen on the advertised address when it is one of ours.
    bind_address = launch::IsThisMachine((*plan)->master_addr) ? (*plan)->master_addr : "0.0.0.0";
  }
  ServerOptions server_options{bind_address, request.port, request.tls_cert, request.tls_key};
  absl::StatusOr<std::unique_ptr<CoordinatorServer>> server = CoordinatorServer::Start(
      server_options, std::make_unique<CoordinatorService>(service, Clock::Real()));
  if (!server.ok()) {
    log::Error(absl::StrCat("zerotune launch: ", server.status().message()));
    return server.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  const std::string address = *plan ? absl::StrCat((*plan)->master_addr, ":", (*server)->port())
                                    : (*server)->address();
  std::string listening = absl::StrCat("[launcher] coordinator of job '", service.job.job_id,
                                       "' listening on ", (*server)->bound_address(),
                                       request.tls_cert.empty() ? "" : " (TLS)");
  if (address != (*server)->bound_address()) absl::StrAppend(&listening, ", ranks dial ", address);
  absl::StrAppend(&listening, ", ", service.job.world_size, " rank(s)");
  if (*plan) {
    absl::StrAppend(&listening, " on ", (*plan)->node_order.size(), " host(s) (",
                    (*plan)->remote_hosts.size(), " over ssh)");
  }
  absl::StrAppend(&listening, ", max_restarts ", request.max_restarts);
  log::Info(listening);
  if (!output_dir.empty()) {
    JobFile job{address, service.job.job_id, request.tls_cert, service.token};
    if (absl::Status status = WriteJobFile(output_dir, job); !status.ok()) {
      log::Error(absl::StrCat("zerotune launch: ", status.message()));
      return 1;
    }
  }
  std::unique_ptr<ProcessSpawner> spawner = launch::NewPosixSpawner();
  if (*plan && !(*plan)->remote_hosts.empty()) {
    SshOptions ssh;
    ssh.port = request.ssh_port;
    ssh.options = request.ssh_options;
    spawner = std::make_unique<SshSpawner>(std::move(spawner), ssh, CurrentDirectory(), CurrentEnvironment());
  }
  LocalLauncher launcher(LaunchOptionsFor(request, service, address, output_dir, *plan),
                         &(*server)->service(), spawner.get(), [] { return Clock::Real()->Now(); });
  absl::StatusOr<JobPhase> phase = Supervise(launcher, (*server)->service());
  const proto::GetStatusReply status = (*server)->service().Status();
  (*server)->Shutdown();
  if (!output_dir.empty()) RemoveJobFile(output_dir);
  if (!phase.ok()) {
    log::Error(absl::StrCat("zerotune launch: ", phase.status().message()));
    return 1;
  }
  log::Info(absl::StrCat("[launcher] job '", status.job_id(), "' ", status.state(), " at step ",
                         status.step(), " after ", status.restart_count(), " restart(s)"));
  if (*phase == JobPhase::kFailed) log::Error(status.failure_report());
  return ExitCodeFor(*phase);
}

void AddLaunchCommand(CLI::App& app) {
  auto request = std::make_shared<LaunchRequest>();
  CLI::App* command = app.add_subcommand(
      "launch", "start the coordinator and this node's ranks; restart them after failures");
  command->add_option("--nproc_per_node,--num_gpus", request->nproc_per_node,
                      "ranks on this node; with --hostfile: devices [0, N) of every host")
      ->check(CLI::PositiveNumber)
      ->each([request](const std::string&) { request->num_gpus_given = true; });
  command->add_option("--config", request->config,
                      "job file: a JSON object of training arguments (flags after -- override it)");
  command->add_option("--hostfile,-H", request->hostfile, "DeepSpeed hostfile: `host slots=N` lines");
  command->add_option("--include,-i", request->include, "hosts/slots to use: NAME[:SLOT,...][@...]");
  command->add_option("--exclude,-e", request->exclude, "hosts/slots to leave out: NAME[:SLOT,...][@...]");
  command->add_option("--num_nodes", request->num_nodes, "use the first N hosts of --hostfile")
      ->check(CLI::PositiveNumber);
  command->add_option("--master_addr", request->master_addr,
                      "address ranks dial for the coordinator (default: this machine as remote hosts see it)");
  command->add_option("--ssh_port", request->ssh_port, "ssh port of remote hosts (default: ssh's)")
      ->check(CLI::Range(1, 65535));
  command->add_option("--ssh_option", request->ssh_options, "extra `ssh -o KEY=VALUE` (repeatable)");
  command->add_option("--env_file", request->env_file,
                      "NAME=VALUE lines for remote ranks (default: $DS_ENV_FILE, ./.deepspeed_env, ~/.deepspeed_env)");
  command->add_option("--max_restarts", request->max_restarts, "restarts for the whole job")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--heartbeat_interval_ms", request->heartbeat_interval_ms)->check(CLI::PositiveNumber);
  command->add_option("--heartbeat_timeout_ms", request->heartbeat_timeout_ms)->check(CLI::PositiveNumber);
  command->add_option("--abort_grace_ms", request->abort_grace_ms,
                      "after an abort, time before remaining ranks are killed")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--rendezvous_timeout_s", request->rendezvous_timeout_s)->check(CLI::PositiveNumber);
  AddStoreLimitOptions(command, &request->store_limits);
  command->add_option("--bind", request->bind_address,
                      "listen address (default 127.0.0.1; with --hostfile --master_addr or 0.0.0.0)")
      ->each([request](const std::string&) { request->bind_given = true; });
  command->add_option("--port,--master_port", request->port, "listen port (0: any free port)")
      ->check(CLI::Range(0, 65535));
  command->add_option("--tls_cert", request->tls_cert, "PEM certificate: serve TLS");
  command->add_option("--tls_key", request->tls_key, "PEM private key of --tls_cert");
  command->add_option("--job_id", request->job_id);
  command->add_option("--output_dir", request->output_dir,
                      "metrics and job files (default: the worker's --output_dir)");
  command->add_option("--worker", request->worker, "the rank program (default zerotune-worker)");
  command->add_option("worker_args", request->worker_args, "-- then the worker's arguments");
  command->callback([request] {
    const int code = RunLaunch(*request);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace zt::coordinator
