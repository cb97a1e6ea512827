#include "launch/ssh_launch_plan.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <unistd.h>


#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "launch/hostfile.h"
#include "launch/remote_environment.h"
#include "launch/ssh_preflight.h"

namespace zt::launch {

bool IsThisMachine(const std::string& host) {
  if (host == "localhost" || host == "::1" || absl::StartsWith(host, "127.")) return true;
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0 && host == name) return true;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return false;
  bool found = false;
  for (ifaddrs* entry = list; entry != nullptr && !found; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (entry->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(entry->ifa_addr)->sin_addr, text, sizeof text);
    } else if (entry->ifa_addr->sa_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(entry->ifa_addr)->sin6_addr, text, sizeof text);
    }
    found = host == text;
  }
  freeifaddrs(list);
  return found;
}

std::vector<RankPlacement> PlaceRanks(const std::vector<HostDevices>& resources) {
  std::vector<RankPlacement> placements;
  for (size_t node = 0; node < resources.size(); ++node) {
    const HostDevices& host = resources[node];
    const bool remote = !IsThisMachine(host.host);
    const std::string devices = absl::StrJoin(host.slots, ",");
    for (size_t local = 0; local < host.slots.size(); ++local) {
      placements.push_back(RankPlacement{host.host, remote, static_cast<int>(local),
                                         static_cast<int>(host.slots.size()), static_cast<int>(node),
                                         devices});
    }
  }
  return placements;
}

absl::StatusOr<HostPlan> PlanHosts(const HostPlanRequest& request) {
  ZT_ASSIGN_OR_RETURN(std::vector<HostSlots> hostfile, ReadHostfile(request.hostfile));
  ZT_ASSIGN_OR_RETURN(std::vector<HostDevices> resources,
                      SelectResources(hostfile, request.selection));
  HostPlan plan;
  plan.placements = PlaceRanks(resources);
  for (const HostDevices& host : resources) {
    plan.node_order.push_back(host.host);
    if (!IsThisMachine(host.host)) plan.remote_hosts.push_back(host.host);
  }
  plan.master_addr = request.master_addr;
  if (!plan.remote_hosts.empty()) {
    ZT_ASSIGN_OR_RETURN(std::vector<EnvVariable> file, ReadEnvFile(request.env_file));
    plan.remote_env = RemoteEnvironment(request.launcher_env, file);
    ZT_ASSIGN_OR_RETURN(std::vector<HostReport> reports,
                        PreflightHosts(plan.remote_hosts, request.ssh, request.worker, request.cwd,
                                       request.launcher_env));
    for (const HostReport& report : reports) {
      log::Info(absl::StrCat("[launcher] pre-flight: ", report.host,
                             " reachable over ssh, same worker program, sees this machine as ",
                             report.launcher_address));
    }
    if (plan.master_addr.empty()) plan.master_addr = reports.front().launcher_address;
  }
  if (plan.master_addr.empty()) plan.master_addr = "127.0.0.1";
  return plan;
}

}  // namespace zt::launch
