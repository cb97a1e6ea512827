// The replies the coordinator service builds from the job's state: RegisterWorker's once the
// rendezvous completed (the rank's place in the world, torchrun's environment), and GetStatus
// (`zerotune status`: phase, generation and restarts, the step from the ranks' and rank 0's
// latest metrics, every rank's host, device, pid, step and heartbeat age, the root-cause report
// once a rank failed).
#pragma once

#include "absl/time/time.h"
#include "coordinator/job_state.h"
#include "proto/zerotune.pb.h"

namespace zt::coordinator {

// The registration reply of the rank in `info` (a slot of the completed rendezvous).
void FillRegisterReply(const JobState& job, const RankInfo& info,
                       proto::RegisterWorkerReply* reply);

// `latest_metrics`: rank 0's last ReportMetrics; `started`: when the service started.
void FillJobStatus(const JobState& job, const proto::MetricsRequest& latest_metrics,
                   absl::Time started, absl::Time now, proto::GetStatusReply* reply);

}  // namespace zt::coordinator
