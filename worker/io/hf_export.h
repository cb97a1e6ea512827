// Writing an HF model folder that from_pretrained loads: config.json, the weights as
// model.safetensors or shards + model.safetensors.index.json (split by max_shard_size), and the
// tokenizer files copied from another folder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "worker/io/safetensors_file.h"

namespace zt::worker::io {

// The tokenizer / generation files an HF folder may carry, copied when present.
const std::vector<std::string>& TokenizerFileNames();

// Creates `out_dir` (and parents) and writes the folder. `tokenizer_dir` empty: no tokenizer
// files (a folder without them is valid for everything that takes token ids). Copies nothing
// onto itself when tokenizer_dir == out_dir. Internal naming the path on I/O errors.
absl::Status WriteHfModelFolder(const std::string& out_dir, const nlohmann::json& config,
                                const NamedTensors& tensors, uint64_t max_shard_bytes,
                                const std::string& tokenizer_dir);

// Reads `dir`/config.json as JSON (for rewriting it in an export). NotFound / InvalidArgument
// naming the path.
absl::StatusOr<nlohmann::json> ReadConfigJson(const std::string& dir);

}  // namespace zt::worker::io
