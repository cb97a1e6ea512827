// Loading an HF model folder (config.json + safetensors, tokenizer files optional) and an
// optional PEFT adapter into a Decoder, with the --dtype flag spelling the commands share.
#pragma once

#include <string>

#include <ATen/ATen.h>

#include "absl/status/statusor.h"
#include "worker/model/decoder.h"

namespace zt::worker::model {

// "fp32" | "bf16" | "fp16" (also "float32", "bfloat16", "float16"). InvalidArgument naming
// `flag` and the choices.
absl::StatusOr<at::ScalarType> ParseDtypeFlag(const std::string& text, const std::string& flag);

// config.json + weights of `dir` in `dtype`; with a non-empty `adapter_dir`, the PEFT adapter
// attached (fp32 adapters, as PEFT).
// With `four_bit` the decoder-layer linears get a frozen 4-bit base (Decoder::Load).
absl::StatusOr<Decoder> LoadModelFolder(const std::string& dir, at::ScalarType dtype,
                                        const std::string& adapter_dir = "",
                                        const Load4bitOptions* four_bit = nullptr);

}  // namespace zt::worker::model
