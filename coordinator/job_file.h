// How `zerotune status` / `zerotune stop` find a job started elsewhere: the coordinator writes
// <job_dir>/.zerotune/coordinator.json (address, job id, TLS CA file) and the token into
// <job_dir>/.zerotune/token with mode 0600 (never in argv, never in the JSON).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/coordinator_client.h"

namespace zt::coordinator {

struct JobFile {
  std::string address;
  std::string job_id;
  std::string tls_ca_file;
  std::string token;
};

absl::Status WriteJobFile(const std::string& job_dir, const JobFile& job);
// NotFound naming the file when no job was started there.
absl::StatusOr<JobFile> ReadJobFile(const std::string& job_dir);
void RemoveJobFile(const std::string& job_dir);

ClientOptions ClientOptionsFor(const JobFile& job);

}  // namespace zt::coordinator
