// The serialized form of a bitsandbytes QuantState (docs/quantize.md): the JSON blob stored as
// `<weight>.quant_state.bitsandbytes__<type>` (Python json.dumps of the non-tensor fields, in
// QuantState.as_dict's order, default separators) and transformers' quantization_config.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace zt::worker::model {

// Python's repr() of a float (shortest round trip; fixed for 1e-4 <= |v| < 1e16, else
// "1.5e-05" style), as json.dumps writes it.
std::string PythonFloatRepr(double value);

struct QuantStateFields {
  std::string quant_type;  // "nf4" | "fp4"
  int64_t blocksize = 64;
  std::string dtype;           // torch's name without "torch.": "float32", "bfloat16", "float16"
  std::vector<int64_t> shape;  // the weight's [out, in]
  std::optional<float> nested_offset;  // set with double quantization (nested blocksize 256)
};

// The blob's UTF-8 bytes, e.g. {"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16",
// "shape": [32, 64], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.05}.
std::string QuantStateJson(const QuantStateFields& fields);

// BitsAndBytesConfig(load_in_4bit=True, ...).to_dict() as transformers writes it into
// config.json; `compute_dtype` is torch's name ("bfloat16").
nlohmann::json BitsAndBytes4bitConfig(const std::string& quant_type, bool double_quant,
                                      const std::string& compute_dtype);

}  // namespace zt::worker::model
