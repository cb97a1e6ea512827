// Which trainable parameters get weight decay: the HF Trainer's rule (Trainer.create_optimizer,
// get_decay_parameter_names), so the engine's parameter groups are the Trainer's decay / no-decay
// groups. A parameter is exempt from weight decay when its lowercased full name contains "bias",
// "layernorm" or "rmsnorm", has a component "norm" (model.norm.weight) or a component ending in
// "_norm" (qwen3's self_attn.q_norm.weight). LoRA factors (lora_A / lora_B) decay.
//
// One torch-free place for the rule: the engine's callers form their groups with it
// (zero_engine.h DecayParameterGroups) and `zerotune estimate` lays out the same groups
// (model_state_estimate.h), so the estimate's padding is the engine's.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace zt::sharding {

bool HasWeightDecay(absl::string_view parameter_name);

// One parameter group: indices into the caller's forward-ordered list, in forward order.
struct DecayGroup {
  bool decay = true;  // false: weight_decay 0 (the no-decay group)
  std::vector<int> params;
};

// The decay group then the no-decay group, as the Trainer lists them; a group with no parameter
// is left out (so every returned group is non-empty). `names` in forward order.
std::vector<DecayGroup> DecayGroups(const std::vector<std::string>& names);

}  // namespace zt::sharding
