// Checkpointer::Load: verify, re-partition, restore (contract in checkpointer.h).
#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/io/safetensors_file.h"
#include "worker/train/checkpoint_files.h"
#include "worker/train/checkpointer.h"

namespace zt::worker::train {

using nlohmann::json;
using sharding::TrainingEngine;

namespace {

std::string Shape(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// The engine trains exactly the saved parameters, with the same shapes and master dtype.
absl::Status CheckSameParameters(const CheckpointManifest& m, const TrainingEngine& engine,
                                 const std::string& source) {
  std::set<std::string> current;
  for (const TrainingEngine::StateGroupLayout& g : engine.StateLayout()) {
    ZT_ASSIGN_OR_RETURN(io::SafetensorsDtype master, io::ToSafetensorsDtype(g.master_dtype));
    for (size_t i = 0; i < g.names.size(); ++i) {
      current.insert(g.names[i]);
      const ManifestParam* p = m.FindParam(g.names[i]);
      if (p == nullptr) {
        return absl::FailedPreconditionError(absl::StrCat(
            source, " has no state for trainable parameter '", g.names[i],
            "'; the checkpoint was saved with other trainable parameters (LoRA targets/rank?)"));
      }
      if (p->shape != g.shapes[i]) {
        return absl::FailedPreconditionError(absl::StrCat(
            source, ": parameter '", g.names[i], "' was saved with shape ", Shape(p->shape),
            "; this run trains it with shape ", Shape(g.shapes[i])));
      }
      const std::string& saved = m.groups[p->group].master_dtype;
      if (saved != io::SafetensorsDtypeName(master)) {
        return absl::FailedPreconditionError(absl::StrCat(
            source, ": parameter '", g.names[i], "' has a ", saved, " master; this run keeps ",
            io::SafetensorsDtypeName(master)));
      }
    }
  }
  for (const ManifestParam& p : m.params) {
    if (current.count(p.name) == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          source, " holds state for '", p.name, "', which this run does not train"));
    }
  }
  return absl::OkStatus();
}

struct OpenedState {
  std::map<int, std::shared_ptr<io::SafetensorsFile>> files;  // by saved partition rank
};

// Verifies and opens every saved state file that overlaps this rank's slices.
absl::Status OpenNeededFiles(const CheckpointManifest& m, const std::string& dir,
                             const std::vector<TrainingEngine::StateSlice>& slices,
                             OpenedState& opened) {
  std::set<int> needed;
  for (const TrainingEngine::StateSlice& s : slices) {
    for (const ManifestPiece& piece : m.FindParam(s.name)->pieces) {
      if (piece.offset < s.offset + s.numel && s.offset < piece.offset + piece.numel) {
        needed.insert(piece.rank);
      }
    }
  }
  for (int rank : needed) {
    const std::string& relative = m.state_files[rank];
    const ManifestFile* entry = m.FindFile(relative, m.rank_nodes[rank]);
    if (entry == nullptr) {
      return absl::DataLossError(absl::StrCat(dir, "/", kManifestFileName, " lists no checksum for ",
                                              relative));
    }
    absl::Status verified = VerifyFile(dir, *entry);
    if (absl::IsNotFound(verified) && m.save_on_each_node) {
      return absl::NotFoundError(absl::StrCat(
          verified.message(), "; it was saved with save_on_each_node on node ", entry->node,
          ": copy every node's zero/ files into one folder to resume with another layout"));
    }
    ZT_RETURN_IF_ERROR(verified);
    ZT_ASSIGN_OR_RETURN(opened.files[rank], io::SafetensorsFile::Open(dir + "/" + relative));
    ZT_ASSIGN_OR_RETURN(at::Tensor step, opened.files[rank]->Get("step"));
    if (step.item<int64_t>() != m.applied_steps) {
      return absl::DataLossError(absl::StrCat(dir, "/", relative, " holds step ",
                                              step.item<int64_t>(), "; the manifest says ",
                                              m.applied_steps));
    }
  }
  return absl::OkStatus();
}

// Copies the saved elements [slice.offset, + numel) of the slice's parameter into it.
absl::Status Fill(const CheckpointManifest& m, const OpenedState& opened, const std::string& dir,
                  const TrainingEngine::StateSlice& slice) {
  for (const ManifestPiece& piece : m.FindParam(slice.name)->pieces) {
    const int64_t lo = std::max(slice.offset, piece.offset);
    const int64_t hi = std::min(slice.offset + slice.numel, piece.offset + piece.numel);
    if (lo >= hi) continue;
    const io::SafetensorsFile& file = *opened.files.at(piece.rank);
    const std::pair<const char*, at::Tensor> targets[] = {
        {"fp32", slice.master}, {"exp_avg", slice.exp_avg}, {"exp_avg_sq", slice.exp_avg_sq}};
    for (const auto& [kind, target] : targets) {
      ZT_ASSIGN_OR_RETURN(at::Tensor saved, file.Get(StateTensorName(slice.name, kind)));
      if (saved.dim() != 1 || saved.numel() != piece.numel) {
        return absl::DataLossError(absl::StrCat(
            file.path(), ": tensor '", StateTensorName(slice.name, kind), "' has ", saved.numel(),
            " elements; the manifest in ", dir, " says ", piece.numel));
      }
      target.narrow(0, lo - slice.offset, hi - lo).copy_(saved.narrow(0, lo - piece.offset, hi - lo));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<json> ReadVerifiedJson(const CheckpointManifest& m, const std::string& dir,
                                      const std::string& relative, int node) {
  const ManifestFile* entry = m.FindFile(relative, node);
  if (entry == nullptr) {
    return absl::DataLossError(absl::StrCat(dir, "/", kManifestFileName, " lists no ", relative,
                                            " for node ", node));
  }
  ZT_RETURN_IF_ERROR(VerifyFile(dir, *entry));
  ZT_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(absl::StrCat(dir, "/", relative)));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::DataLossError(absl::StrCat(dir, "/", relative, " is not JSON"));
  }
  return j;
}

}  // namespace

absl::StatusOr<LoadedCheckpoint> Checkpointer::Load(TrainingEngine& engine, const std::string& dir) {
  ZT_RETURN_IF_ERROR(LearnNodes());
  LoadedCheckpoint out;
  out.dir = dir;
  OpenedState opened;
  absl::Status checked = [&]() -> absl::Status {
    ZT_ASSIGN_OR_RETURN(out.manifest, ReadManifest(dir));
    const CheckpointManifest& m = out.manifest;
    ZT_ASSIGN_OR_RETURN(std::string fingerprint,
                        BaseModelFingerprintLike(options_.base_model_dir, m.base_model_fingerprint));
    if (fingerprint != m.base_model_fingerprint) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir, " was trained on base model ", m.base_model_dir, " (fingerprint ",
          m.base_model_fingerprint, "), not on ", options_.base_model_dir, " (fingerprint ",
          fingerprint, "); resume against the base it was saved with"));
    }
    ZT_RETURN_IF_ERROR(CheckSameParameters(m, engine, absl::StrCat(dir, "/", kManifestFileName)));
    ZT_ASSIGN_OR_RETURN(std::vector<TrainingEngine::StateSlice> slices, engine.StateSlices());
    ZT_RETURN_IF_ERROR(OpenNeededFiles(m, dir, slices, opened));
    // The leader files of this rank's node (node 0's when the layout changed).
    const bool same_nodes = m.rank_nodes == rank_nodes_;
    const int node = m.save_on_each_node && same_nodes ? options_.node : m.rank_nodes[0];
    ZT_ASSIGN_OR_RETURN(out.trainer_state, ReadVerifiedJson(m, dir, kTrainerStateFileName, node));
    out.client_state = m.client_state;
    out.same_world_size = m.world_size == options_.world_size;
    out.rank_state = out.same_world_size ? m.rank_states[options_.rank] : json();
    return absl::OkStatus();
  }();
  // Every rank checked before the collective import, so a refusal never hangs the others.
  ZT_RETURN_IF_ERROR(sync_.AllOk("load_checked", checked));
  const CheckpointManifest& m = out.manifest;
  TrainingEngine::StateCounters counters;
  counters.stage = m.stage;
  counters.world_size = m.world_size;
  counters.partition_world = m.partition_world;
  counters.applied_steps = m.applied_steps;
  counters.skipped_steps = m.skipped_steps;
  counters.loss_scaler = m.loss_scaler;
  absl::Status imported = engine.ImportState(
      counters, [&](const TrainingEngine::StateSlice& s) { return Fill(m, opened, dir, s); });
  ZT_RETURN_IF_ERROR(sync_.AllOk("load_imported", imported));
  return out;
}

}  // namespace zt::worker::train
