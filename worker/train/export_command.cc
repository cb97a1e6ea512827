#include "worker/train/export_command.h"

#include <CLI/CLI.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/command_status.h"
#include "worker/io/hf_export.h"
#include "worker/io/peft_adapter.h"
#include "worker/io/sharded_safetensors.h"
#include "worker/model/model_folder.h"
#include "worker/model/model_presets.h"

namespace zt::worker::train {

namespace fs = std::filesystem;

absl::Status VerifyCheckpoint(const std::string& dir, const CheckpointManifest& manifest,
                              int node) {
  for (const ManifestFile& f : manifest.files) {
    if (f.node == node || f.path.rfind("zero/", 0) == 0) ZT_RETURN_IF_ERROR(VerifyFile(dir, f));
  }
  return absl::OkStatus();
}

absl::StatusOr<io::NamedTensors> GatherMasters(const std::string& dir,
                                               const CheckpointManifest& manifest) {
  std::map<int, std::shared_ptr<io::SafetensorsFile>> files;
  io::NamedTensors out;
  for (const ManifestParam& p : manifest.params) {
    int64_t numel = 1;
    for (int64_t d : p.shape) numel *= d;
    at::Tensor full;
    for (const ManifestPiece& piece : p.pieces) {
      auto& file = files[piece.rank];
      if (!file) {
        ZT_ASSIGN_OR_RETURN(file, io::SafetensorsFile::Open(
                                      absl::StrCat(dir, "/", manifest.state_files[piece.rank])));
      }
      ZT_ASSIGN_OR_RETURN(at::Tensor slice, file->Get(StateTensorName(p.name, "fp32")));
      if (slice.numel() != piece.numel) {
        return absl::DataLossError(absl::StrCat(file->path(), ": '", p.name, "/fp32' has ",
                                                slice.numel(), " elements; expected ", piece.numel));
      }
      if (!full.defined()) full = at::empty({numel}, slice.options());
      full.narrow(0, piece.offset, piece.numel).copy_(slice);
    }
    out.emplace_back(p.name, full.view(p.shape));
  }
  return out;
}

namespace {

absl::StatusOr<std::string> ExportFull(const ExportRequest& request,
                                       const CheckpointManifest& manifest) {
  const std::string base = request.base.empty() ? manifest.base_model_dir : request.base;
  ZT_ASSIGN_OR_RETURN(std::string fingerprint,
                      BaseModelFingerprintLike(base, manifest.base_model_fingerprint));
  if (fingerprint != manifest.base_model_fingerprint) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--base ", base, " has fingerprint ", fingerprint, " but ", request.checkpoint,
        " was trained on ", manifest.base_model_dir, " (fingerprint ",
        manifest.base_model_fingerprint, ")"));
  }
  std::optional<at::ScalarType> dtype;
  if (request.dtype != "auto") {
    ZT_ASSIGN_OR_RETURN(dtype, model::ParseDtypeFlag(request.dtype, "--dtype"));
  }
  ZT_ASSIGN_OR_RETURN(uint64_t shard_bytes,
                      io::ParseByteSize(request.max_shard_size, "--max_shard_size"));
  ZT_ASSIGN_OR_RETURN(io::NamedTensors trained, GatherMasters(request.checkpoint, manifest));
  ZT_ASSIGN_OR_RETURN(io::ShardedSafetensors weights, io::ShardedSafetensors::Open(base));
  std::map<std::string, at::Tensor> replaced;
  for (auto& [name, t] : trained) {
    if (!weights.Contains(name)) {
      return absl::FailedPreconditionError(absl::StrCat(
          request.checkpoint, " trained '", name, "', which base model ", base, " does not hold"));
    }
    replaced[name] = t;
  }
  io::NamedTensors tensors;
  for (const std::string& name : weights.Names()) {
    ZT_ASSIGN_OR_RETURN(at::Tensor original, weights.Get(name));
    auto it = replaced.find(name);
    at::Tensor t = it == replaced.end() ? original : it->second;
    if (it != replaced.end() && t.sizes() != original.sizes()) {
      return absl::FailedPreconditionError(
          absl::StrCat("'", name, "' was trained with shape [", absl::StrJoin(t.sizes(), ", "),
                       "] but base ", base, " holds [", absl::StrJoin(original.sizes(), ", "), "]"));
    }
    tensors.emplace_back(name, t.to(dtype.value_or(original.scalar_type())));
  }
  ZT_ASSIGN_OR_RETURN(nlohmann::json config, io::ReadConfigJson(base));
  if (dtype) {
    config["torch_dtype"] = model::HfDtypeName(*dtype);
    if (config.contains("dtype")) config["dtype"] = model::HfDtypeName(*dtype);
  }
  ZT_RETURN_IF_ERROR(io::WriteHfModelFolder(request.out, config, tensors, shard_bytes, base));
  return absl::StrCat("exported ", trained.size(), " trained tensors of ", request.checkpoint,
                      " (step ", manifest.step, ") with ", tensors.size() - trained.size(),
                      " base tensors as an HF model folder in ", request.out);
}

}  // namespace

absl::StatusOr<std::string> RunExport(const ExportRequest& request) {
  ZT_ASSIGN_OR_RETURN(CheckpointManifest manifest, ReadManifest(request.checkpoint));
  ZT_RETURN_IF_ERROR(VerifyCheckpoint(request.checkpoint, manifest, 0));
  if (manifest.kind == "full") return ExportFull(request, manifest);
  ZT_ASSIGN_OR_RETURN(io::PeftAdapter adapter, io::ReadPeftAdapter(request.checkpoint));
  io::NamedTensors tensors;
  for (const std::string& name : adapter.tensors->Names()) {
    ZT_ASSIGN_OR_RETURN(at::Tensor t, adapter.tensors->Get(name));
    tensors.emplace_back(name, t);
  }
  ZT_RETURN_IF_ERROR(io::WritePeftAdapter(request.out, adapter.config, tensors));
  return absl::StrCat("exported the LoRA adapter of ", request.checkpoint, " (step ",
                      manifest.step, ", ", tensors.size(), " tensors) as a PEFT folder in ",
                      request.out);
}

void AddExportCommand(CLI::App& app) {
  auto request = std::make_shared<ExportRequest>();
  CLI::App* cmd = app.add_subcommand(
      "export", "Turn a training checkpoint into a PEFT adapter or an HF model folder");
  cmd->add_option("--checkpoint", request->checkpoint, "A checkpoint-<step> folder")->required();
  cmd->add_option("--out", request->out, "Output folder")->required();
  cmd->add_option("--base", request->base,
                  "Full fine-tuning: the base model folder (default: the one in the manifest)");
  cmd->add_option("--dtype", request->dtype,
                  "Full fine-tuning: auto (default: each base tensor's), fp32, bf16 or fp16");
  cmd->add_option("--max_shard_size", request->max_shard_size, "Shard size (default 5GB)");
  cmd->callback([request]() {
    at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    auto line = RunExport(*request);
    ExitIfError("export", line.status());
    std::cout << *line << "\n";
  });
}

}  // namespace zt::worker::train
