// Partitioned training checkpoints (issue #8; format in docs/checkpoints.md and
// checkpoint_manifest.h). One Checkpointer per rank, created at start with the job's Store;
// the training loop makes each call on every rank, in the same order:
//
//   Checkpointer ckpt(options, store);
//   ZT_RETURN_IF_ERROR(ckpt.CheckSharedOutputDir());            // at start, before any save
//   ZT_ASSIGN_OR_RETURN(std::optional<std::string> from,
//                       ckpt.ResolveResume(args.resume_from_checkpoint));  // "auto" | dir | ""
//   if (from) { ZT_ASSIGN_OR_RETURN(LoadedCheckpoint c, ckpt.Load(*engine, *from)); ... }
//   ...
//   ZT_ASSIGN_OR_RETURN(std::string dir, ckpt.Save(*engine, request));  // at global step k
//
// Save writes output_dir/.tmp-<k>/ (each rank its partition of the optimizer state, the node
// leader the adapter, trainer_state.json and, last, manifest.json with the SHA-256 of every
// file), fsyncs, renames it to checkpoint-<k>/, then replaces output_dir/latest and rotates
// (save_total_limit). A crash at any point leaves the previous checkpoint the newest complete
// one. Load verifies the manifest and every file it reads against their checksums, refuses a
// different base model (naming both fingerprints), re-partitions the optimizer state for this
// job's world size and ZeRO stage, restores the engine (parameters, master, moments, step
// counters, loss scaler) and returns what the caller stored. Errors are the same on every rank
// (the first failing rank's, prefixed "rank <r>: "); every one names the file.
//
// The node leader is rank 0, or with save_on_each_node the lowest rank of each node (each node
// then keeps its own ranks' state files in its own output_dir, and every node's manifest lists
// all files with the node that holds them).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "sharding/collectives/store.h"
#include "sharding/zero/training_engine.h"
#include "worker/io/peft_adapter.h"
#include "worker/io/safetensors_file.h"
#include "worker/train/checkpoint_manifest.h"
#include "worker/train/checkpoint_sync.h"

namespace zt::worker::train {

struct CheckpointerOptions {
  std::string output_dir;
  int rank = 0;
  int world_size = 1;
  int node = 0;  // this rank's node index (its ranks share a local filesystem)
  bool save_on_each_node = false;
  int64_t save_total_limit = 0;  // <= 0 keeps every checkpoint
  // The base model folder (config.json + *.safetensors): recorded in the manifest with its
  // fingerprint; Load refuses a checkpoint of another base; export of full fine-tuning reads it.
  std::string base_model_dir;
  absl::Duration timeout = absl::Minutes(10);  // per synchronisation point
  // Tests only: called on every rank at each save phase ("state_written", "manifest_written",
  // "renamed"), e.g. to kill the process there.
  std::function<void(absl::string_view phase)> phase_hook;
};

struct SaveRequest {
  int64_t step = 0;                   // the global step: checkpoint-<step>
  nlohmann::json trainer_state;       // trainer_state.json (the leaders' values are written)
  nlohmann::json client_state;        // sampler position, scheduler, ... (rank 0's is stored)
  nlohmann::json rank_state;          // this rank's own (RNG states); every rank's is stored
  // LoRA: the adapter (PEFT names, gathered) on rank 0 and, with save_on_each_node, on every
  // node leader; written as adapter_config.json + adapter_model.safetensors so
  // PeftModel.from_pretrained loads the checkpoint folder. Unset: full fine-tuning (the weights
  // are the masters in zero/; `zerotune-worker export` writes the HF folder).
  std::optional<io::PeftLoraConfig> adapter_config;
  io::NamedTensors adapter_tensors;
};

struct LoadedCheckpoint {
  std::string dir;
  CheckpointManifest manifest;
  nlohmann::json trainer_state;
  nlohmann::json client_state;
  // This rank's saved rank_state when the world size is unchanged; null otherwise (the caller
  // re-seeds, e.g. from the global step).
  nlohmann::json rank_state;
  bool same_world_size = true;
};

class Checkpointer {
 public:
  Checkpointer(CheckpointerOptions options, std::shared_ptr<sharding::Store> store);

  const CheckpointerOptions& options() const { return options_; }

  // Creates output_dir and removes what failed saves left there (RemoveStaleSaves); every rank
  // writes a nonce file there, rank 0 checks it sees all of them. FailedPrecondition
  // "output_dir <dir> is not shared across nodes: ..." otherwise, unless save_on_each_node. The
  // nonce files are removed again.
  absl::Status CheckSharedOutputDir();

  // ResolveResumeCheckpoint(output_dir, arg) as the leaders see it, the same on every rank
  // ("" needs no synchronisation). With save_on_each_node every node leader must find the same
  // checkpoint-<step> in its own output_dir (FailedPrecondition naming both otherwise). With
  // "auto" the leaders first set damaged checkpoints newer than the newest complete one aside
  // (SetAsideDamagedCheckpoints); `notes` gets one line for each.
  absl::StatusOr<std::optional<std::string>> ResolveResume(const std::string& arg,
                                                           std::vector<std::string>* notes = nullptr);

  absl::StatusOr<std::string> Save(sharding::TrainingEngine& engine, const SaveRequest& request);

  absl::StatusOr<LoadedCheckpoint> Load(sharding::TrainingEngine& engine, const std::string& dir);

 private:
  // The lowest rank on each rank's node (leader per rank), gathered once.
  absl::Status LearnNodes();
  bool IsLeader() const;
  void Phase(absl::string_view phase) const;
  absl::StatusOr<std::string> Fingerprint();
  // Save's phases: a fresh .tmp-<step> on every node; every rank's files, then every rank's
  // report (its files' digests, its state; the first error, on every rank); the leaders'
  // manifest from the reports and the engine's layout; manifest, fsync, rename, latest,
  // rotation.
  absl::Status PrepareSaveFolder(const std::string& tmp);
  absl::StatusOr<std::vector<nlohmann::json>> WriteRankFiles(
      sharding::TrainingEngine& engine, const SaveRequest& request,
      const sharding::TrainingEngine::StateCounters& counters, const std::string& tmp);
  absl::StatusOr<CheckpointManifest> SaveManifest(
      const sharding::TrainingEngine& engine, const SaveRequest& request,
      const sharding::TrainingEngine::StateCounters& counters,
      const std::vector<nlohmann::json>& reports);
  absl::Status CommitSave(const CheckpointManifest& manifest, const std::string& tmp,
                          const std::string& final_dir, const std::string& name);

  CheckpointerOptions options_;
  RankSync sync_;
  std::vector<int> rank_nodes_;
  std::string fingerprint_;
};

}  // namespace zt::worker::train
