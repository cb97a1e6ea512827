#include "launch/resource_filter.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace zt::launch {
namespace {

// host -> slots named for it, from "a@b:0,2". A host named without slots anywhere in the value
// means the whole host; slots named for it elsewhere narrow it, as DeepSpeed merges them.
using NodeSpecs = absl::flat_hash_map<std::string, std::vector<int>>;

absl::StatusOr<NodeSpecs> ParseNodeSpecs(absl::string_view flag, absl::string_view value,
                                         const absl::flat_hash_map<std::string, int>& slots_of) {
  NodeSpecs specs;
  for (absl::string_view spec : absl::StrSplit(value, '@')) {
    std::vector<absl::string_view> parts = absl::StrSplit(spec, absl::MaxSplits(':', 1));
    std::string host(parts[0]);
    if (host.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(flag, "='", value, "': empty host name in '", spec,
                                                     "' (expected NAME[:SLOT[,SLOT...]][@...])"));
    }
    auto known = slots_of.find(host);
    if (known == slots_of.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, "='", value, "': host '", host, "' is not in the hostfile"));
    }
    std::vector<int>& slots = specs[host];
    if (parts.size() == 1) continue;
    for (absl::string_view text : absl::StrSplit(parts[1], ',')) {
      int slot = -1;
      if (!absl::SimpleAtoi(text, &slot) || slot < 0) {
        return absl::InvalidArgumentError(absl::StrCat(flag, "='", value, "': slot '", text, "' of host '",
                                                       host, "' is not a non-negative integer"));
      }
      if (slot >= known->second) {
        return absl::InvalidArgumentError(absl::StrCat(flag, "='", value, "': host '", host, "' has slots 0..",
                                                       known->second - 1, " in the hostfile, not ", slot));
      }
      slots.push_back(slot);
    }
  }
  return specs;
}

std::vector<int> AllSlots(int count) {
  std::vector<int> slots(count);
  for (int i = 0; i < count; ++i) slots[i] = i;
  return slots;
}

std::vector<int> Sorted(std::vector<int> slots) {
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  return slots;
}

absl::Status CheckFlagCombination(const ResourceSelection& selection) {
  if (!selection.include.empty() && !selection.exclude.empty()) {
    return absl::InvalidArgumentError("--include and --exclude are mutually exclusive");
  }
  const bool filtered = !selection.include.empty() || !selection.exclude.empty();
  if (filtered && (selection.num_nodes >= 0 || selection.num_gpus >= 0)) {
    return absl::InvalidArgumentError("--num_nodes/--num_gpus cannot be combined with --include/--exclude");
  }
  if (selection.num_nodes == 0 || selection.num_nodes < -1) {
    return absl::InvalidArgumentError(absl::StrCat("--num_nodes=", selection.num_nodes, ": expected >= 1"));
  }
  if (selection.num_gpus == 0 || selection.num_gpus < -1) {
    return absl::InvalidArgumentError(absl::StrCat("--num_gpus=", selection.num_gpus, ": expected >= 1"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<HostDevices>> SelectResources(const std::vector<HostSlots>& hostfile,
                                                         const ResourceSelection& selection) {
  ZT_RETURN_IF_ERROR(CheckFlagCombination(selection));
  absl::flat_hash_map<std::string, int> slots_of;
  for (const HostSlots& entry : hostfile) slots_of[entry.host] = entry.slots;

  std::vector<HostDevices> selected;
  if (!selection.include.empty() || !selection.exclude.empty()) {
    const bool include = !selection.include.empty();
    const char* flag = include ? "--include" : "--exclude";
    ZT_ASSIGN_OR_RETURN(NodeSpecs specs,
                        ParseNodeSpecs(flag, include ? selection.include : selection.exclude, slots_of));
    for (const HostSlots& entry : hostfile) {
      auto spec = specs.find(entry.host);
      const bool named = spec != specs.end();
      const bool whole = named && spec->second.empty();
      std::vector<int> slots;
      if (include) {
        if (named) slots = whole ? AllSlots(entry.slots) : Sorted(spec->second);
      } else {
        std::vector<int> removed = named && !whole ? Sorted(spec->second) : std::vector<int>{};
        if (!whole) {
          for (int slot : AllSlots(entry.slots)) {
            if (!std::binary_search(removed.begin(), removed.end(), slot)) slots.push_back(slot);
          }
        }
      }
      if (!slots.empty()) selected.push_back({entry.host, std::move(slots)});
    }
  } else {
    const size_t hosts = selection.num_nodes < 0 ? hostfile.size()
                                                 : std::min<size_t>(hostfile.size(), selection.num_nodes);
    if (selection.num_nodes > static_cast<int>(hostfile.size())) {
      return absl::InvalidArgumentError(absl::StrCat("--num_nodes=", selection.num_nodes,
                                                     ": the hostfile lists only ", hostfile.size(), " host(s)"));
    }
    for (size_t i = 0; i < hosts; ++i) {
      const HostSlots& entry = hostfile[i];
      if (selection.num_gpus > entry.slots) {
        return absl::InvalidArgumentError(absl::StrCat("--num_gpus=", selection.num_gpus, ": host '", entry.host,
                                                       "' has only slots=", entry.slots, " in the hostfile"));
      }
      selected.push_back({entry.host, AllSlots(selection.num_gpus < 0 ? entry.slots : selection.num_gpus)});
    }
  }
  if (selected.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--include='", selection.include, "' --exclude='",
                                                   selection.exclude, "' leave no GPU to run on"));
  }
  return selected;
}

int CountRanks(const std::vector<HostDevices>& resources) {
  int ranks = 0;
  for (const HostDevices& host : resources) ranks += static_cast<int>(host.slots.size());
  return ranks;
}

}  // namespace zt::launch
