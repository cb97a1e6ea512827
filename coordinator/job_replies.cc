#include "coordinator/job_replies.h"

#include <algorithm>
#include <string>

#include "coordinator/failure_report.h"

namespace zt::coordinator {

void FillRegisterReply(const JobState& job, const RankInfo& info,
                       proto::RegisterWorkerReply* reply) {
  std::string master_addr;
  int nodes = 0;
  for (const RankInfo& other : job.ranks()) {
    if (other.rank == 0) master_addr = other.registration.address;
    nodes = std::max(nodes, other.node_rank + 1);
  }
  reply->set_rank(info.rank);
  reply->set_local_rank(info.local_rank);
  reply->set_world_size(job.options().world_size);
  reply->set_local_world_size(info.local_world_size);
  reply->set_node_rank(info.node_rank);
  reply->set_num_nodes(nodes);
  reply->set_generation(job.generation());
  reply->set_job_id(job.options().job_id);
  reply->set_advertise_address(info.registration.address);
  reply->set_master_addr(master_addr);
  reply->set_heartbeat_interval_ms(absl::ToInt64Milliseconds(job.options().heartbeat_interval));
  reply->set_heartbeat_timeout_ms(absl::ToInt64Milliseconds(job.options().heartbeat_timeout));
}

void FillJobStatus(const JobState& job, const proto::MetricsRequest& latest_metrics,
                   absl::Time started, absl::Time now, proto::GetStatusReply* reply) {
  reply->set_job_id(job.options().job_id);
  reply->set_state(JobPhaseName(job.phase()));
  reply->set_generation(job.generation());
  reply->set_restart_count(job.restart_count());
  reply->set_max_restarts(job.options().max_restarts);
  reply->set_world_size(job.options().world_size);
  reply->set_step(std::max(job.max_step(), latest_metrics.step()));
  reply->set_max_steps(latest_metrics.max_steps());
  reply->mutable_latest_metrics()->insert(latest_metrics.values().begin(),
                                          latest_metrics.values().end());
  reply->set_elapsed_seconds(absl::ToDoubleSeconds(now - started));
  for (const RankInfo& info : job.ranks()) {
    proto::RankStatus* rank = reply->add_ranks();
    rank->set_rank(info.rank);
    rank->set_host(info.registration.host);
    rank->set_device(info.registration.device);
    rank->set_pid(info.registration.pid);
    rank->set_step(info.step);
    rank->set_last_heartbeat_age_ms(absl::ToInt64Milliseconds(now - info.last_heartbeat));
    rank->set_state(info.finished ? "finished" : info.stopped ? "stopped" : "running");
  }
  if (const RankFailure* root = job.RootCause()) {
    int count = 0;
    for (const RankFailure& failure : job.failures()) count += failure.generation == root->generation;
    reply->set_failure_report(FormatFailureReport(job.options().job_id, *root, count));
  }
}

}  // namespace zt::coordinator
