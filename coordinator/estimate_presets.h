// The model presets `zerotune estimate --preset NAME` knows, as the config.json values of the
// published base models (docs/estimate.md): the same shapes as the worker's init-model presets
// (worker/model/model_presets.cc, which links LibTorch; the estimate must not). Both copies are
// held to the published parameter totals (tests/coordinator/estimate_presets_test.cc,
// tests/worker/model/model_presets_test.cc). Torch-free.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "configs/model_config.h"

namespace zt::coordinator {

std::vector<std::string> EstimatePresetNames();

// The preset's config as configs::ParseModelConfig reads its config.json. InvalidArgument
// naming --preset and listing the names for an unknown one.
absl::StatusOr<configs::ModelConfig> EstimatePresetConfig(const std::string& name);

}  // namespace zt::coordinator
