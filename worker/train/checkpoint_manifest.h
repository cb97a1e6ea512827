// The manifest of a training checkpoint (checkpoint-<step>/manifest.json, docs/checkpoints.md):
// what was saved, in which layout, and a SHA-256 of every other file in the folder. The
// optimizer state is kept per parameter name in DeepSpeed's "universal" form
// (docs/checkpoints.md: fp32 master, exp_avg, exp_avg_sq and step per parameter), split into one
// safetensors file per partition rank (zero/rank_<r>.safetensors, tensors "<name>/fp32",
// "<name>/exp_avg", "<name>/exp_avg_sq" holding the rank's contiguous slice of the flattened
// parameter, plus "step"); the manifest says which (offset, numel) of each parameter every rank
// holds, so any world size (and stage 3's per-parameter chunks, later) can re-cut it.
//
// The manifest carries its own checksum ("manifest_sha256", over the rest of the object dumped
// with sorted keys), so a flipped byte anywhere in a checkpoint is detected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "sharding/optim/loss_scaler.h"

namespace zt::worker::train {

inline constexpr char kCheckpointFormat[] = "zerotune-checkpoint";
inline constexpr int kCheckpointFormatVersion = 1;
inline constexpr char kManifestFileName[] = "manifest.json";
inline constexpr char kTrainerStateFileName[] = "trainer_state.json";

struct ManifestPiece {
  int rank = 0;         // partition rank whose state file holds it
  int64_t offset = 0;   // first element inside the flattened parameter
  int64_t numel = 0;
};

struct ManifestParam {
  std::string name;
  int group = 0;
  std::vector<int64_t> shape;
  std::vector<ManifestPiece> pieces;  // by rank; together they cover the parameter exactly once
};

struct ManifestGroup {
  std::vector<std::string> params;  // forward order
  std::string param_dtype;          // safetensors names: "BF16", "F32", ...
  std::string master_dtype;
  double weight_decay = 0.0;
  int64_t bucket_numel = 0;
  int64_t alignment_numel = 2;
  int64_t flat_numel = 0;
  int64_t partition_numel = 0;
};

struct ManifestFile {
  std::string path;  // relative to the checkpoint folder
  std::string sha256;
  int64_t bytes = 0;
  int node = 0;  // the node whose output_dir holds it (all 0 unless save_on_each_node)
};

struct CheckpointManifest {
  int64_t step = 0;
  std::string kind = "lora";  // "lora": adapter files present; "full": full fine-tuning
  int world_size = 1;
  int stage = 0;
  int partition_world = 1;
  bool save_on_each_node = false;
  int64_t applied_steps = 0;
  int64_t skipped_steps = 0;
  sharding::LossScalerState loss_scaler;
  std::vector<ManifestGroup> groups;
  std::vector<ManifestParam> params;
  std::vector<std::string> state_files;  // index: partition rank
  std::vector<ManifestFile> files;
  std::vector<int> rank_nodes;               // index: rank
  std::vector<nlohmann::json> rank_states;   // index: rank (RNG states, the caller's)
  nlohmann::json client_state;               // the caller's (sampler, scheduler, ...)
  std::string base_model_dir;
  std::string base_model_fingerprint;

  const ManifestParam* FindParam(const std::string& name) const;
  // The entry of `path` held by `node` (leader files appear once per node with
  // save_on_each_node), or null.
  const ManifestFile* FindFile(const std::string& path, int node) const;
};

// "zero/rank_00003.safetensors".
std::string StateFileName(int partition_rank);
// "<param>/fp32", "<param>/exp_avg", "<param>/exp_avg_sq".
std::string StateTensorName(const std::string& param, const std::string& kind);

nlohmann::json ManifestToJson(const CheckpointManifest& manifest);
// Parses and checks `dir`/manifest.json: format, version, self-checksum, every field.
// NotFound when absent; DataLoss naming the file when the checksum does not match;
// InvalidArgument naming the file and the key otherwise.
absl::StatusOr<CheckpointManifest> ReadManifest(const std::string& checkpoint_dir);

// Identifies a base model cheaply: "contents-v2:" + SHA-256 over config.json and, per
// *.safetensors file in name order, its header (length + JSON), its size and 64 blocks of
// 4 KiB spread evenly over its data (256 KiB read per shard), so another model of the same
// preset and shapes (other weights) differs.
absl::StatusOr<std::string> BaseModelFingerprint(const std::string& model_dir);
// `model_dir`'s fingerprint under the scheme `recorded` uses: checkpoints saved before contents
// were sampled recorded a bare SHA-256 of config.json and the headers, still accepted for them.
absl::StatusOr<std::string> BaseModelFingerprintLike(const std::string& model_dir,
                                                     const std::string& recorded);

// Re-hashes `dir`/file.path; DataLoss naming the file and both digests when it differs, NotFound
// when it is missing.
absl::Status VerifyFile(const std::string& checkpoint_dir, const ManifestFile& file);

}  // namespace zt::worker::train
