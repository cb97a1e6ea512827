// ZeRO stage 3 over a decoder: every tensor slot partitioned (sharding/zero/zero3_parameters.h), the
// decoder's units (Decoder::ParameterUnits) as the gather order. The model side of the seam:
// sharding/ knows no decoder.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "sharding/zero/zero3_parameters.h"
#include "worker/model/decoder.h"

namespace zt::worker::model {

// A 4-bit base (QLoRA) is partitioned as its bytes: rank r keeps whole quantization blocks
// (blocksize / 2 packed bytes each) and the absmax entries of the same blocks; the constants
// (absmax, quant maps, nested absmax) keep their dtypes whatever the compute dtype.
inline void AddPacked4bitLayouts(Decoder& decoder, sharding::Zero3ParameterOptions& options) {
  for (size_t i = 0; i < decoder.layers().size(); ++i) {
    for (auto& [module, linear] : decoder.layers()[i].Linears()) {
      if (!linear->base4bit.has_value()) continue;
      const std::string weight = "model.layers." + std::to_string(i) + "." + module + ".weight";
      options.slot_layouts[weight] = {linear->base4bit->weight.blocksize / 2, true};
      for (const char* constant : {".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map"}) {
        options.slot_layouts[weight + constant] = {1, true};
      }
    }
  }
}

// Replaces every tensor of `decoder` by an empty placeholder; the returned parameters are the
// decoder's parameter hook from then on (ForwardOptions::parameter_hook).
inline absl::StatusOr<std::unique_ptr<sharding::Zero3Parameters>> PartitionDecoder(
    Decoder& decoder, sharding::Zero3ParameterOptions options,
    std::shared_ptr<sharding::Communicator> comm) {
  AddPacked4bitLayouts(decoder, options);
  return sharding::Zero3Parameters::Create(decoder.TensorSlots(), decoder.ParameterUnits(),
                                           options, std::move(comm));
}

}  // namespace zt::worker::model
