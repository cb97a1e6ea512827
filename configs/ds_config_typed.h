// The typed view of a resolved ds_config (ds_config.h). Internal to configs/: called only after
// ResolveDsConfig found no errors, so every key is present with its checked type.
#pragma once

#include "configs/ds_config.h"
#include "nlohmann/json.hpp"

namespace zt::configs {

// Fills the typed fields of `out` from `resolved` (DeepSpeed key names, defaults filled).
void FillTypedConfig(const nlohmann::json& resolved, DsConfig& out);

}  // namespace zt::configs
