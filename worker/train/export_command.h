// `zerotune-worker export --checkpoint DIR --out DIR [--base DIR] [--dtype auto|fp32|bf16|fp16]
//                         [--max_shard_size 5GB]`
// The counterpart of DeepSpeed's zero_to_fp32 for zerotune checkpoints (docs/checkpoints.md):
// verifies every file of the checkpoint against its manifest, then
//  - LoRA: writes the PEFT adapter folder (adapter_config.json + adapter_model.safetensors),
//    which PeftModel.from_pretrained loads;
//  - full fine-tuning: gathers every trained parameter from the per-rank universal slices
//    (its fp32 master) and writes an HF model folder: the base's config.json and tokenizer
//    files, the base's tensors with the trained ones replaced. --base defaults to the folder
//    recorded in the manifest and must have the recorded fingerprint. --dtype auto keeps each
//    base tensor's dtype (the trained parameters rounded as the training held them); fp32
//    writes the masters unrounded, as zero_to_fp32 does.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/io/safetensors_file.h"
#include "worker/train/checkpoint_manifest.h"

namespace CLI {
class App;
}

namespace zt::worker::train {

struct ExportRequest {
  std::string checkpoint;
  std::string out;
  std::string base;  // "": the manifest's base_model path
  std::string dtype = "auto";
  std::string max_shard_size = "5GB";
};

// Every file of `dir` that node `node` holds, re-hashed against the manifest.
absl::Status VerifyCheckpoint(const std::string& dir, const CheckpointManifest& manifest,
                              int node);

// The full fp32 master (fp64 for fp64 training) of every saved parameter, in the manifest's
// order, reshaped; the state files must all be in `dir` (verified first).
absl::StatusOr<io::NamedTensors> GatherMasters(const std::string& dir,
                                               const CheckpointManifest& manifest);

// One line for the terminal: what was written where.
absl::StatusOr<std::string> RunExport(const ExportRequest& request);

void AddExportCommand(CLI::App& app);

}  // namespace zt::worker::train
