// Checkpointer::Save: the atomic, checksummed checkpoint-<step>/ folder (contract in
// checkpointer.h).
#include <ATen/ATen.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/io/safetensors_file.h"
#include "worker/train/checkpoint_files.h"
#include "worker/train/checkpoint_rotation.h"
#include "worker/train/checkpointer.h"

namespace zt::worker::train {

namespace fs = std::filesystem;
using nlohmann::json;
using sharding::TrainingEngine;

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
  const bool leader = IsLeader();

  // 1. A fresh .tmp-<step> on every node.
  absl::Status prepared;
  if (leader) {
    prepared = RemoveFolder(tmp);
    std::error_code ec;
    if (prepared.ok() && !fs::create_directories(tmp + "/zero", ec)) {
      prepared = absl::InternalError(absl::StrCat("cannot create ", tmp, "/zero: ", ec.message()));
    }
  }
  ZT_RETURN_IF_ERROR(sync_.AllOk("save_prepared", prepared));

  // 2. Every rank its state partition; the leaders the caller's files.
  const TrainingEngine::StateCounters counters = engine.StateCountersNow();
  json files = json::object();
  absl::Status written = [&]() -> absl::Status {
    ZT_ASSIGN_OR_RETURN(std::vector<TrainingEngine::StateSlice> slices, engine.StateSlices());
    if (options_.rank < counters.partition_world) {
      ZT_RETURN_IF_ERROR(WriteStateFile(tmp, counters.partition_rank, slices,
                                        counters.applied_steps, files));
    }
    if (leader) ZT_RETURN_IF_ERROR(WriteLeaderFiles(tmp, request, files));
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
    if (leader) RemoveFolder(tmp).IgnoreError();
    return first_error;
  }
  Phase("state_written");

  // 3. The leaders: manifest (last file), fsync, rename (the commit), latest, rotation.
  absl::Status committed;
  if (leader) {
    committed = [&]() -> absl::Status {
      CheckpointManifest m;
      m.step = request.step;
      m.kind = all[0]["kind"].get<std::string>();
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
        for (const auto& [path, f] : all[r]["files"].items()) {
          m.files.push_back(ManifestFile{path, f["sha256"].get<std::string>(),
                                         f["bytes"].get<int64_t>(), rank_nodes_[r]});
        }
        m.rank_states.push_back(all[r]["rank_state"]);
      }
      m.rank_nodes = rank_nodes_;
      m.client_state = all[0]["client_state"];
      m.base_model_dir = options_.base_model_dir;
      ZT_ASSIGN_OR_RETURN(m.base_model_fingerprint, Fingerprint());
      ZT_RETURN_IF_ERROR(WriteFileDurably(absl::StrCat(tmp, "/", kManifestFileName),
                                          ManifestToJson(m).dump(2)));
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
    }();
    if (!committed.ok()) RemoveFolder(tmp).IgnoreError();
  }
  ZT_RETURN_IF_ERROR(sync_.AllOk("save_committed", committed));
  return final_dir;
}

}  // namespace zt::worker::train
