// ZeroEngine's per-parameter-group state, shared by the engine's translation units
// (zero_engine.cc runs the steps; the checkpoint code reads and restores the partitions).
// Internal to sharding/: nothing outside the engine includes this.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "sharding/zero/flat_buffer.h"
#include "sharding/zero/gradient_bucketer.h"
#include "sharding/zero/optimizer_offload.h"
#include "sharding/zero/zero_engine.h"

namespace zt::sharding {

struct ZeroEngine::Group {
  std::vector<std::string> names;
  std::vector<at::Tensor> params;
  double weight_decay = 0.0;
  FlatBuffer buffer;
  at::Tensor accumulator;  // gradient dtype; partition (stages 1-2) or whole flat buffer (0)
  at::Tensor send;         // stages 1-2: this rank's updated chunks in the parameter dtype
  std::unique_ptr<OptimizerPartition> optimizer;
  std::vector<bool> staged;       // per bucket: gradient chunk already in the optimizer's buffer
  StepPhaseTimes backward_times;  // gradient copies made during the boundary backward
  // Last: references buffer.layout(), so it goes first.
  std::unique_ptr<GradientBucketer> bucketer;
};

}  // namespace zt::sharding
