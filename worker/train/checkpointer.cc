// Checkpointer (contract in checkpointer.h): construction, node leaders, the shared output_dir
// check and the resume choice; Save (prepare .tmp-<step>, every rank's files, the leaders'
// manifest and rename); Load (verify, re-partition, restore).
#include "worker/train/checkpointer.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/io/safetensors_file.h"
#include "worker/train/checkpoint_files.h"
#include "worker/train/checkpoint_rotation.h"

namespace zt::worker::train {

namespace fs = std::filesystem;
using nlohmann::json;
using sharding::TrainingEngine;

Checkpointer::Checkpointer(CheckpointerOptions options, std::shared_ptr<sharding::Store> store)
    : options_(std::move(options)),
      sync_(std::move(store), options_.rank, options_.world_size, options_.timeout) {}

absl::Status Checkpointer::LearnNodes() {
  if (!rank_nodes_.empty()) return absl::OkStatus();
  ZT_ASSIGN_OR_RETURN(std::vector<std::string> nodes,
                      sync_.AllGather("nodes", absl::StrCat(options_.node)));
  rank_nodes_.resize(nodes.size());
  for (size_t r = 0; r < nodes.size(); ++r) {
    if (!absl::SimpleAtoi(nodes[r], &rank_nodes_[r])) {
      return absl::InternalError(absl::StrCat("rank ", r, " sent node \"", nodes[r], "\""));
    }
  }
  return absl::OkStatus();
}

bool Checkpointer::IsLeader() const {
  if (!options_.save_on_each_node) return options_.rank == 0;
  for (int r = 0; r < options_.rank; ++r) {
    if (rank_nodes_[r] == options_.node) return false;
  }
  return true;
}

void Checkpointer::Phase(absl::string_view phase) const {
  if (options_.phase_hook) options_.phase_hook(phase);
}

absl::StatusOr<std::string> Checkpointer::Fingerprint() {
  if (fingerprint_.empty()) {
    ZT_ASSIGN_OR_RETURN(fingerprint_, BaseModelFingerprint(options_.base_model_dir));
  }
  return fingerprint_;
}

absl::Status Checkpointer::CheckSharedOutputDir() {
  ZT_RETURN_IF_ERROR(LearnNodes());
  std::error_code ec;
  fs::create_directories(options_.output_dir, ec);
  absl::Status mine = ec ? absl::InternalError(absl::StrCat("cannot create output_dir ",
                                                            options_.output_dir, ": ", ec.message()))
                         : absl::OkStatus();
  ZT_RETURN_IF_ERROR(sync_.AllOk("output_dir_created", mine));
  // What failed saves left (a full disk's partial .tmp-<step> holds the space a rerun needs).
  ZT_RETURN_IF_ERROR(sync_.AllOk(
      "stale_saves_removed",
      IsLeader() ? RemoveStaleSaves(options_.output_dir) : absl::OkStatus()));
  // One nonce for the run, from rank 0, so files of an earlier run never count.
  std::string nonce;
  if (options_.rank == 0) {
    std::random_device device;
    nonce = absl::StrFormat("%08x%08x%d", device(), device(), ::getpid());
  }
  ZT_ASSIGN_OR_RETURN(std::vector<std::string> nonces, sync_.AllGather("nonce", nonce));
  nonce = nonces[0];
  auto file_of = [&](int r) {
    return absl::StrCat(options_.output_dir, "/.zt-shared-check-", nonce, "-rank", r);
  };
  const std::string my_file = file_of(options_.rank);
  ZT_RETURN_IF_ERROR(sync_.AllOk("nonce_written", WriteFileDurably(my_file, nonce)));
  absl::Status verdict;
  if (options_.rank == 0 && !options_.save_on_each_node) {
    std::vector<std::string> missing;
    for (int r = 0; r < options_.world_size; ++r) {
      if (!fs::exists(file_of(r), ec)) {
        missing.push_back(absl::StrCat(r, " (node ", rank_nodes_[r], ")"));
      }
    }
    if (!missing.empty()) {
      verdict = absl::FailedPreconditionError(absl::StrCat(
          "output_dir is not shared across nodes: rank 0 does not see the files that ranks ",
          absl::StrJoin(missing, ", "), " wrote into ", options_.output_dir,
          "; put output_dir on a filesystem every node mounts, or pass --save_on_each_node"));
    }
  }
  absl::Status agreed = sync_.AllOk("nonce_checked", verdict);
  fs::remove(my_file, ec);
  return agreed;
}

absl::StatusOr<std::optional<std::string>> Checkpointer::ResolveResume(
    const std::string& arg, std::vector<std::string>* notes) {
  if (arg.empty()) return std::optional<std::string>();
  ZT_RETURN_IF_ERROR(LearnNodes());
  if (arg == "auto") {
    absl::StatusOr<std::vector<SetAsideCheckpoint>> moved =
        IsLeader() ? SetAsideDamagedCheckpoints(options_.output_dir)
                   : absl::StatusOr<std::vector<SetAsideCheckpoint>>(
                         std::vector<SetAsideCheckpoint>{});
    ZT_RETURN_IF_ERROR(sync_.AllOk("damaged_set_aside", moved.status()));
    for (const SetAsideCheckpoint& m : *moved) {
      if (notes == nullptr) continue;
      notes->push_back(absl::StrCat("skipped ", m.dir, " (", m.reason, "); kept it as ",
                                    m.moved_to));
    }
  }
  // The leaders look in their own output_dir; with save_on_each_node every node must hold the
  // same checkpoint-<step>, and each rank resumes from its own node's copy.
  absl::StatusOr<std::optional<std::string>> mine =
      IsLeader() ? ResolveResumeCheckpoint(options_.output_dir, arg)
                 : absl::StatusOr<std::optional<std::string>>(std::nullopt);
  ZT_RETURN_IF_ERROR(sync_.AllOk("resume_resolved", mine.status()));
  std::string choice;
  if (IsLeader()) {
    choice = mine->has_value() ? std::filesystem::path(**mine).filename().string() : "-";
  }
  ZT_ASSIGN_OR_RETURN(std::vector<std::string> all, sync_.AllGather("resume_choice", choice));
  for (int r = 1; r < options_.world_size; ++r) {
    if (!all[r].empty() && all[r] != all[0]) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--resume_from_checkpoint ", arg, ": rank 0 resumes from ",
          all[0] == "-" ? "nothing" : all[0], " but rank ", r, " (the leader of node ",
          rank_nodes_[r], ") from ", all[r] == "-" ? "nothing" : all[r],
          "; with --save_on_each_node every node must hold the same checkpoints"));
    }
  }
  if (all[0] == "-") return std::optional<std::string>();
  if (arg != "auto") return std::optional<std::string>(arg);
  return std::optional<std::string>(absl::StrCat(options_.output_dir, "/", all[0]));
}


// ---- Save -----------------------------------------------------------------------------------

namespace {


absl::StatusOr<std::string> DtypeName(at::ScalarType dtype) {
  ZT_ASSIGN_OR_RETURN(io::SafetensorsDtype st, io::ToSafetensorsDtype(dtype));
  return std::string(io::SafetensorsDtypeName(st));
}

// Hashes a written file into `files` under its checkpoint-relative name, after an fsync.
absl::Status Record(const std::string& dir, const std::string& relative, json& files) {
  const std::string path = absl::StrCat(dir, "/", relative);
  ZT_RETURN_IF_ERROR(FsyncPath(path));
  ZT_ASSIGN_OR_RETURN(FileDigest digest, Sha256File(path));
  files[relative] = {{"sha256", digest.sha256}, {"bytes", digest.bytes}};
  return absl::OkStatus();
}

// This rank's partition of the optimizer state: "<name>/fp32|exp_avg|exp_avg_sq" + "step".
absl::Status WriteStateFile(const std::string& dir, int partition_rank,
                            const std::vector<TrainingEngine::StateSlice>& slices,
                            int64_t step, json& files) {
  io::NamedTensors tensors;
  for (const TrainingEngine::StateSlice& s : slices) {
    tensors.emplace_back(StateTensorName(s.name, "fp32"), s.master);
    tensors.emplace_back(StateTensorName(s.name, "exp_avg"), s.exp_avg);
    tensors.emplace_back(StateTensorName(s.name, "exp_avg_sq"), s.exp_avg_sq);
  }
  tensors.emplace_back("step", at::full({}, step, at::kLong));
  const std::string relative = StateFileName(partition_rank);
  ZT_RETURN_IF_ERROR(io::WriteSafetensors(absl::StrCat(dir, "/", relative), tensors,
                                          {{"partition_rank", absl::StrCat(partition_rank)},
                                           {"step", absl::StrCat(step)}}));
  return Record(dir, relative, files);
}

absl::Status WriteLeaderFiles(const std::string& dir, const SaveRequest& request, json& files) {
  ZT_RETURN_IF_ERROR(
      WriteFileDurably(absl::StrCat(dir, "/", kTrainerStateFileName), request.trainer_state.dump(2)));
  ZT_RETURN_IF_ERROR(Record(dir, kTrainerStateFileName, files));
  if (request.adapter_config) {
    ZT_RETURN_IF_ERROR(io::WritePeftAdapter(dir, *request.adapter_config, request.adapter_tensors));
    ZT_RETURN_IF_ERROR(Record(dir, "adapter_config.json", files));
    ZT_RETURN_IF_ERROR(Record(dir, "adapter_model.safetensors", files));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> Checkpointer::Save(TrainingEngine& engine, const SaveRequest& request) {
  ZT_RETURN_IF_ERROR(LearnNodes());
  const std::string name = absl::StrCat("checkpoint-", request.step);
  const std::string final_dir = absl::StrCat(options_.output_dir, "/", name);
  const std::string tmp = absl::StrCat(options_.output_dir, "/.tmp-", request.step);
  // 1. A fresh .tmp-<step> on every node.
  ZT_RETURN_IF_ERROR(PrepareSaveFolder(tmp));
  // 2. Every rank its state partition; the leaders the caller's files.
  const TrainingEngine::StateCounters counters = engine.StateCountersNow();
  ZT_ASSIGN_OR_RETURN(const std::vector<json> reports,
                      WriteRankFiles(engine, request, counters, tmp));
  Phase("state_written");
  // 3. The leaders: manifest (last file), fsync, rename (the commit), latest, rotation.
  absl::Status committed;
  if (IsLeader()) {
    committed = [&]() -> absl::Status {
      ZT_ASSIGN_OR_RETURN(const CheckpointManifest manifest,
                          SaveManifest(engine, request, counters, reports));
      return CommitSave(manifest, tmp, final_dir, name);
    }();
    if (!committed.ok()) RemoveFolder(tmp).IgnoreError();
  }
  ZT_RETURN_IF_ERROR(sync_.AllOk("save_committed", committed));
  return final_dir;
}

absl::Status Checkpointer::PrepareSaveFolder(const std::string& tmp) {
  absl::Status prepared;
  if (IsLeader()) {
    prepared = RemoveFolder(tmp);
    std::error_code ec;
    if (prepared.ok() && !fs::create_directories(tmp + "/zero", ec)) {
      prepared = absl::InternalError(absl::StrCat("cannot create ", tmp, "/zero: ", ec.message()));
    }
  }
  return sync_.AllOk("save_prepared", prepared);
}

absl::StatusOr<std::vector<json>> Checkpointer::WriteRankFiles(
    TrainingEngine& engine, const SaveRequest& request,
    const TrainingEngine::StateCounters& counters, const std::string& tmp) {
  json files = json::object();
  absl::Status written = [&]() -> absl::Status {
    ZT_ASSIGN_OR_RETURN(std::vector<TrainingEngine::StateSlice> slices, engine.StateSlices());
    if (options_.rank < counters.partition_world) {
      ZT_RETURN_IF_ERROR(WriteStateFile(tmp, counters.partition_rank, slices,
                                        counters.applied_steps, files));
    }
    if (IsLeader()) ZT_RETURN_IF_ERROR(WriteLeaderFiles(tmp, request, files));
    return absl::OkStatus();
  }();
  json report = {{"status", EncodeStatus(written)},
                 {"files", files},
                 {"rank_state", request.rank_state}};
  if (options_.rank == 0) {
    report["client_state"] = request.client_state;
    report["kind"] = request.adapter_config ? "lora" : "full";
  }
  ZT_ASSIGN_OR_RETURN(std::vector<std::string> reports, sync_.AllGather("save_written", report.dump()));
  std::vector<json> all;
  absl::Status first_error;
  for (int r = 0; r < options_.world_size; ++r) {
    all.push_back(json::parse(reports[r]));
    absl::Status s = DecodeStatus(all.back()["status"].get<std::string>());
    if (!s.ok() && first_error.ok()) {
      first_error = r == options_.rank ? s
                                       : absl::Status(s.code(), absl::StrCat("rank ", r, ": ", s.message()));
    }
  }
  if (!first_error.ok()) {
    if (IsLeader()) RemoveFolder(tmp).IgnoreError();
    return first_error;
  }
  return all;
}

absl::StatusOr<CheckpointManifest> Checkpointer::SaveManifest(
    const TrainingEngine& engine, const SaveRequest& request,
    const TrainingEngine::StateCounters& counters, const std::vector<json>& reports) {
  CheckpointManifest m;
  m.step = request.step;
  m.kind = reports[0]["kind"].get<std::string>();
  m.world_size = options_.world_size;
  m.stage = counters.stage;
  m.partition_world = counters.partition_world;
  m.save_on_each_node = options_.save_on_each_node;
  m.applied_steps = counters.applied_steps;
  m.skipped_steps = counters.skipped_steps;
  m.loss_scaler = counters.loss_scaler;
  const std::vector<TrainingEngine::StateGroupLayout> layout = engine.StateLayout();
  for (int g = 0; g < static_cast<int>(layout.size()); ++g) {
    const TrainingEngine::StateGroupLayout& gl = layout[g];
    ManifestGroup group;
    group.params = gl.names;
    ZT_ASSIGN_OR_RETURN(group.param_dtype, DtypeName(gl.param_dtype));
    ZT_ASSIGN_OR_RETURN(group.master_dtype, DtypeName(gl.master_dtype));
    group.weight_decay = gl.weight_decay;
    group.bucket_numel = gl.layout.bucket_numel;
    group.alignment_numel = gl.layout.alignment_numel;
    group.flat_numel = gl.flat_numel;
    group.partition_numel = gl.partition_numel;
    m.groups.push_back(group);
    const size_t first = m.params.size();
    for (size_t i = 0; i < gl.names.size(); ++i) {
      m.params.push_back(ManifestParam{gl.names[i], g, gl.shapes[i], {}});
    }
    for (int r = 0; r < counters.partition_world; ++r) {
      for (const sharding::ParamPiece& p : engine.PartitionPieces(g, r)) {
        m.params[first + p.param].pieces.push_back(ManifestPiece{r, p.param_offset, p.numel});
      }
    }
  }
  for (int r = 0; r < counters.partition_world; ++r) m.state_files.push_back(StateFileName(r));
  for (int r = 0; r < options_.world_size; ++r) {
    for (const auto& [path, f] : reports[r]["files"].items()) {
      m.files.push_back(ManifestFile{path, f["sha256"].get<std::string>(),
                                     f["bytes"].get<int64_t>(), rank_nodes_[r]});
    }
    m.rank_states.push_back(reports[r]["rank_state"]);
  }
  m.rank_nodes = rank_nodes_;
  m.client_state = reports[0]["client_state"];
  m.base_model_dir = options_.base_model_dir;
  ZT_ASSIGN_OR_RETURN(m.base_model_fingerprint, Fingerprint());
  return m;
}

absl::Status Checkpointer::CommitSave(const CheckpointManifest& manifest, const std::string& tmp,
                                      const std::string& final_dir, const std::string& name) {
  ZT_RETURN_IF_ERROR(WriteFileDurably(absl::StrCat(tmp, "/", kManifestFileName),
                                      ManifestToJson(manifest).dump(2)));
  ZT_RETURN_IF_ERROR(FsyncPath(tmp + "/zero"));
  ZT_RETURN_IF_ERROR(FsyncPath(tmp));
  Phase("manifest_written");
  ZT_RETURN_IF_ERROR(RemoveFolder(final_dir));  // a re-save of the same step
  std::error_code ec;
  fs::rename(tmp, final_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", tmp, " to ", final_dir, ": ", ec.message()));
  }
  ZT_RETURN_IF_ERROR(FsyncPath(options_.output_dir));
  Phase("renamed");
  ZT_RETURN_IF_ERROR(
      WriteFileDurably(absl::StrCat(options_.output_dir, "/", kLatestFileName), name));
  return RotateCheckpoints(options_.output_dir, options_.save_total_limit);
}

// ---- Load -----------------------------------------------------------------------------------

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
