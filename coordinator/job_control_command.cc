#include "coordinator/job_control_command.h"

#include <iostream>

#include <CLI/CLI.hpp>

#include "absl/strings/str_format.h"
#include "coordinator/coordinator_client.h"
#include "coordinator/job_file.h"
#include "coordinator/progress_line.h"

namespace zt::coordinator {
namespace {

absl::StatusOr<std::unique_ptr<CoordinatorClient>> ConnectTo(const std::string& job_dir) {
  absl::StatusOr<JobFile> job = ReadJobFile(job_dir);
  if (!job.ok()) return job.status();
  return CoordinatorClient::Connect(ClientOptionsFor(*job));
}

}  // namespace

int RunStatus(const std::string& job_dir, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::unique_ptr<CoordinatorClient>> client = ConnectTo(job_dir);
  absl::StatusOr<proto::GetStatusReply> status =
      client.ok() ? (*client)->GetStatus() : absl::StatusOr<proto::GetStatusReply>(client.status());
  if (!status.ok()) {
    err << "zerotune status: " << status.status().message() << "\n";
    return 1;
  }
  out << "job " << status->job_id() << " (generation " << status->generation() << ", "
      << status->world_size() << " ranks): " << FormatProgress(*status) << "\n";
  for (const proto::RankStatus& rank : status->ranks()) {
    out << absl::StrFormat("  rank %-4d %-20s device %-3d pid %-8d step %-8d heartbeat %5d ms ago  %s\n",
                           rank.rank(), rank.host(), rank.device(), rank.pid(), rank.step(),
                           rank.last_heartbeat_age_ms(), rank.state());
  }
  out << status->failure_report();
  return 0;
}

int RunStop(const std::string& job_dir, bool checkpoint, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::unique_ptr<CoordinatorClient>> client = ConnectTo(job_dir);
  absl::StatusOr<proto::StopJobReply> reply =
      client.ok() ? (*client)->StopJob(checkpoint, "zerotune stop")
                  : absl::StatusOr<proto::StopJobReply>(client.status());
  if (!reply.ok()) {
    err << "zerotune stop: " << reply.status().message() << "\n";
    return 1;
  }
  if (checkpoint) {
    out << "every rank checkpoints at step " << reply->stop_step() << ", then stops\n";
  } else {
    out << "job aborted\n";
  }
  return 0;
}

void AddStatusCommand(CLI::App& app) {
  auto job_dir = std::make_shared<std::string>();
  CLI::App* command = app.add_subcommand("status", "show a running job's progress and ranks");
  command->add_option("--job_dir,--output_dir", *job_dir, "the job's output folder")->required();
  command->callback([job_dir] {
    if (const int code = RunStatus(*job_dir, std::cout, std::cerr); code != 0) throw CLI::RuntimeError(code);
  });
}

void AddStopCommand(CLI::App& app) {
  auto job_dir = std::make_shared<std::string>();
  auto checkpoint = std::make_shared<bool>(false);
  CLI::App* command = app.add_subcommand("stop", "stop a running job");
  command->add_option("--job_dir,--output_dir", *job_dir, "the job's output folder")->required();
  command->add_flag("--checkpoint", *checkpoint, "checkpoint at the next step first");
  command->callback([job_dir, checkpoint] {
    if (const int code = RunStop(*job_dir, *checkpoint, std::cout, std::cerr); code != 0) {
      throw CLI::RuntimeError(code);
    }
  });
}

}  // namespace zt::coordinator
