#include "sharding/zero/parameter_groups.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace zt::sharding {

bool HasWeightDecay(absl::string_view parameter_name) {
  const std::string name = absl::AsciiStrToLower(parameter_name);
  if (absl::StrContains(name, "bias") || absl::StrContains(name, "layernorm") ||
      absl::StrContains(name, "rmsnorm")) {
    return false;
  }
  for (absl::string_view part : absl::StrSplit(name, '.')) {
    if (part == "norm" || absl::EndsWith(part, "_norm")) return false;
  }
  return true;
}

std::vector<DecayGroup> DecayGroups(const std::vector<std::string>& names) {
  DecayGroup decay, no_decay;
  no_decay.decay = false;
  for (int i = 0; i < static_cast<int>(names.size()); ++i) {
    (HasWeightDecay(names[i]) ? decay : no_decay).params.push_back(i);
  }
  std::vector<DecayGroup> groups;
  if (!decay.params.empty()) groups.push_back(std::move(decay));
  if (!no_decay.params.empty()) groups.push_back(std::move(no_decay));
  return groups;
}

}  // namespace zt::sharding
