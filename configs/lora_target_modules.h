// --lora_target_modules, with PEFT's matching rules (peft/tuners/tuners_utils.py
// check_target_module_exists): a list matches a module whose full name equals an entry or ends
// with "." + entry; a string that is not a plain name is a regular expression that must match
// the whole module name (re.fullmatch); "all-linear" is every linear layer of the decoder
// except the output head.
//
// Accepted spellings: "q_proj,v_proj" (commas, spaces allowed), a JSON list
// '["q_proj", "v_proj"]', a regex such as '.*\.(q_proj|v_proj)$', or "all-linear" (any case).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zt::configs {

struct LoraTargetModules {
  enum class Kind { kNames, kRegex, kAllLinear };
  Kind kind = Kind::kNames;
  std::vector<std::string> names;  // kNames
  std::string regex;               // kRegex (ECMAScript syntax, Python-compatible subset)

  // Whether the module `full_name` ("model.layers.3.self_attn.q_proj") is adapted. For
  // kAllLinear, `is_linear` says whether it is an nn.Linear; "lm_head" never matches.
  bool Matches(absl::string_view full_name, bool is_linear) const;
  // adapter_config.json's "target_modules": a sorted list, the regex string, or "all-linear".
  std::string ToPeftJson() const;
};

// InvalidArgument naming the value and the accepted forms when it parses as none of them (empty
// entries, a JSON list of non-strings, a regex that does not compile).
absl::StatusOr<LoraTargetModules> ParseLoraTargetModules(absl::string_view text);

// PEFT's check that every target exists: each listed name (or the regex / all-linear as a
// whole) must match one of `modules` (the model's linear module names). InvalidArgument naming
// the unmatched targets and the model's linears (with a hint for GPT-2 / Qwen-1 names);
// Unimplemented for lm_head. Shared by LoRA injection and `zerotune estimate`.
absl::Status CheckLoraTargetsMatch(const LoraTargetModules& targets,
                                   const std::vector<std::string>& modules);

}  // namespace zt::configs
