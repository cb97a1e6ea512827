// ZeRO stage 3 over a decoder: every tensor slot partitioned (sharding/zero3_parameters.h), the
// decoder's units (Decoder::ParameterUnits) as the gather order. The model side of the seam:
// sharding/ knows no decoder.
#pragma once

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "sharding/zero3_parameters.h"
#include "worker/model/decoder.h"

namespace zt::worker::model {

// Replaces every tensor of `decoder` by an empty placeholder; the returned parameters are the
// decoder's parameter hook from then on (ForwardOptions::parameter_hook).
inline absl::StatusOr<std::unique_ptr<sharding::Zero3Parameters>> PartitionDecoder(
    Decoder& decoder, const sharding::Zero3ParameterOptions& options,
    std::shared_ptr<sharding::Communicator> comm) {
  return sharding::Zero3Parameters::Create(decoder.TensorSlots(), decoder.ParameterUnits(),
                                           options, std::move(comm));
}

}  // namespace zt::worker::model
