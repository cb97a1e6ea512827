// How a model's tensor slots become one rank's ZeRO-3 partitions, what Zero3Parameters::Create
// (zero3_parameters.h) starts from: one parameter per distinct tensor (aliasing slots, e.g. tied
// embeddings, join it) with its dtype and partition size (slot layouts: alignment, kept dtypes),
// persistence, the units' parameter ids, and this rank's pieces cut into per-unit flat buffers.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "sharding/zero/zero3_parameters.h"

namespace zt::sharding {

struct Zero3Partitioning {
  std::vector<Zero3Parameter> params;
  std::vector<std::vector<int>> units;  // param ids per unit
  std::vector<int64_t> unit_numel;      // gathered elements per unit (non-persistent)
  // Per unit, per (dtype, device) group of its non-persistent parameters: the flat buffer their
  // partitions are views of, or undefined (one tensor, or one placed by an earlier unit).
  std::vector<std::vector<at::Tensor>> unit_flats;
};

// Cuts rank `rank` of `world`'s pieces of every slot (onto options.device, or the host with
// offload_param) and leaves each slot an empty placeholder of the parameter's dtype and device,
// once every aliasing slot was seen. InvalidArgument naming the tensor for an empty or
// undefined slot (already partitioned?), a bad slot layout, a trainable non-floating tensor, or
// a unit naming a tensor that is not a slot.
absl::StatusOr<Zero3Partitioning> PartitionSlots(
    std::vector<std::pair<std::string, at::Tensor*>> slots,
    const std::vector<std::vector<std::string>>& units, const Zero3ParameterOptions& options,
    int rank, int world);

}  // namespace zt::sharding
