// The tiny golden models of tests/data/models (tests/golden/decoder_goldens.py): their folders,
// architecture numbers and reference tensors.
#pragma once

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "worker/io/safetensors_file.h"
#include "worker/model/decoder_config.h"

namespace zt::worker::model::testing {

struct GoldenCase {
  std::string name;       // folder under tests/data/models
  DecoderConfig config;   // must agree with the folder's config.json
  bool has_lora = false;  // adapter/ and lora_* goldens present
};

std::vector<GoldenCase> GoldenCases();
std::string GoldenDir(const std::string& name);
// golden.safetensors of a case.
std::shared_ptr<io::SafetensorsFile> GoldenTensors(const std::string& name);
// ‖a − b‖₂ / ‖b‖₂ in fp64.
double RelativeError(const at::Tensor& a, const at::Tensor& b);

}  // namespace zt::worker::model::testing
