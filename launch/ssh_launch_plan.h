// The multi-node plan of `zerotune launch --hostfile`: which ranks run where, which hosts are
// this machine (started directly) and which are reached over ssh, where the coordinator
// listens, and what environment remote ranks get. Building it runs the ssh pre-flight.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launch/local_launcher.h"
#include "launch/resource_filter.h"
#include "launch/ssh_spawner.h"

namespace zt::launch {

struct HostPlanRequest {
  std::string hostfile;
  ResourceSelection selection;
  std::string master_addr;  // "" = derive
  std::string worker;       // absolute path of the worker program
  std::string cwd;
  std::string env_file;     // --env_file ("" = .deepspeed_env lookup)
  SshOptions ssh;
  std::vector<std::string> launcher_env;
};

struct HostPlan {
  std::vector<RankPlacement> placements;  // rank order
  std::vector<std::string> node_order;    // selected hosts, hostfile order
  std::vector<std::string> remote_hosts;
  std::string master_addr;                // what ranks dial (with the coordinator's port)
  std::vector<std::string> remote_env;
};

// True for "localhost", loopback addresses, this machine's host name and the addresses of its
// interfaces.
bool IsThisMachine(const std::string& host);

// Ranks of `resources` in node-major order (local ranks 0.., CUDA_VISIBLE_DEVICES = slots).
std::vector<RankPlacement> PlaceRanks(const std::vector<HostDevices>& resources);

// Errors name the hostfile, flag or host (see ReadHostfile, SelectResources, PreflightHosts).
absl::StatusOr<HostPlan> PlanHosts(const HostPlanRequest& request);

}  // namespace zt::launch
