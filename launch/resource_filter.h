// Which GPUs of which hosts a job uses: DeepSpeed's --include / --exclude / --num_nodes /
// --num_gpus over a hostfile.
//
//   --include "worker-0@worker-1:0,2"   all of worker-0, slots 0 and 2 of worker-1
//   --exclude "worker-1:0"              everything except slot 0 of worker-1
//
// NODE_SPEC[@NODE_SPEC...], NODE_SPEC = NAME[:SLOT[,SLOT...]]; a host named twice merges its
// slots. Hosts keep hostfile order (rank order); hosts left without slots are dropped.
// Stricter than DeepSpeed where it silently accepts nonsense: a slot beyond the host's slot
// count and --num_gpus above a host's slots are errors here.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launch/hostfile.h"

namespace zt::launch {

struct HostDevices {
  std::string host;
  std::vector<int> slots;  // device indices on that host, ascending
  bool operator==(const HostDevices& other) const { return host == other.host && slots == other.slots; }
};

struct ResourceSelection {
  std::string include;  // --include
  std::string exclude;  // --exclude
  int num_nodes = -1;   // --num_nodes: the first N hosts (-1: all)
  int num_gpus = -1;    // --num_gpus: devices [0, G) on every host (-1: all slots)
};

// InvalidArgument naming the flag, the offending part of its value and what was expected.
absl::StatusOr<std::vector<HostDevices>> SelectResources(const std::vector<HostSlots>& hostfile,
                                                         const ResourceSelection& selection);

// Total ranks of a selection (sum of slots).
int CountRanks(const std::vector<HostDevices>& resources);

}  // namespace zt::launch
