#include "worker/train/checkpoint_manifest.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "worker/train/checkpoint_files.h"

namespace zt::worker::train {

namespace {

using nlohmann::json;

constexpr char kChecksumKey[] = "manifest_sha256";

json PieceJson(const ManifestPiece& p) {
  return json{{"rank", p.rank}, {"offset", p.offset}, {"numel", p.numel}};
}

void FromJson(const json& j, CheckpointManifest& m) {
  if (j.at("format").get<std::string>() != kCheckpointFormat) {
    throw std::invalid_argument(absl::StrCat("\"format\" is ", j.at("format").dump(),
                                             "; expected \"", kCheckpointFormat, "\""));
  }
  if (j.at("format_version").get<int>() != kCheckpointFormatVersion) {
    throw std::invalid_argument(absl::StrCat("\"format_version\" is ", j.at("format_version").dump(),
                                             "; this build reads ", kCheckpointFormatVersion));
  }
  m.step = j.at("step").get<int64_t>();
  m.kind = j.at("kind").get<std::string>();
  if (m.kind != "lora" && m.kind != "full") {
    throw std::invalid_argument(absl::StrCat("\"kind\" is \"", m.kind, "\"; expected lora or full"));
  }
  m.world_size = j.at("world_size").get<int>();
  m.stage = j.at("zero_stage").get<int>();
  m.partition_world = j.at("partition_world").get<int>();
  m.save_on_each_node = j.at("save_on_each_node").get<bool>();
  const json& engine = j.at("engine");
  m.applied_steps = engine.at("applied_steps").get<int64_t>();
  m.skipped_steps = engine.at("skipped_steps").get<int64_t>();
  const json& scaler = engine.at("loss_scaler");
  m.loss_scaler.cur_scale = scaler.at("cur_scale").get<double>();
  m.loss_scaler.cur_iter = scaler.at("cur_iter").get<int64_t>();
  m.loss_scaler.last_overflow_iter = scaler.at("last_overflow_iter").get<int64_t>();
  m.loss_scaler.cur_hysteresis = scaler.at("cur_hysteresis").get<int>();
  for (const json& g : j.at("groups")) {
    ManifestGroup group;
    group.params = g.at("params").get<std::vector<std::string>>();
    group.param_dtype = g.at("param_dtype").get<std::string>();
    group.master_dtype = g.at("master_dtype").get<std::string>();
    group.weight_decay = g.at("weight_decay").get<double>();
    group.bucket_numel = g.at("bucket_numel").get<int64_t>();
    group.alignment_numel = g.at("alignment_numel").get<int64_t>();
    group.flat_numel = g.at("flat_numel").get<int64_t>();
    group.partition_numel = g.at("partition_numel").get<int64_t>();
    m.groups.push_back(std::move(group));
  }
  for (const auto& [name, p] : j.at("params").items()) {
    ManifestParam param;
    param.name = name;
    param.group = p.at("group").get<int>();
    param.shape = p.at("shape").get<std::vector<int64_t>>();
    for (const json& piece : p.at("pieces")) {
      param.pieces.push_back(ManifestPiece{piece.at("rank").get<int>(),
                                           piece.at("offset").get<int64_t>(),
                                           piece.at("numel").get<int64_t>()});
    }
    m.params.push_back(std::move(param));
  }
  m.state_files = j.at("state_files").get<std::vector<std::string>>();
  for (const json& f : j.at("files")) {
    m.files.push_back(ManifestFile{f.at("path").get<std::string>(),
                                   f.at("sha256").get<std::string>(),
                                   f.at("bytes").get<int64_t>(), f.at("node").get<int>()});
  }
  m.rank_nodes = j.at("rank_nodes").get<std::vector<int>>();
  m.rank_states = j.at("rank_states").get<std::vector<json>>();
  m.client_state = j.at("client_state");
  m.base_model_dir = j.at("base_model").at("path").get<std::string>();
  m.base_model_fingerprint = j.at("base_model").at("fingerprint").get<std::string>();
}

// Every piece lies inside its parameter, names a state file, and the pieces tile it.
absl::Status CheckConsistent(const CheckpointManifest& m, const std::string& source) {
  if (m.state_files.size() != static_cast<size_t>(m.partition_world) ||
      m.rank_states.size() != static_cast<size_t>(m.world_size) ||
      m.rank_nodes.size() != static_cast<size_t>(m.world_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": ", m.state_files.size(), " state_files, ", m.rank_states.size(),
        " rank_states and ", m.rank_nodes.size(), " rank_nodes; expected partition_world = ",
        m.partition_world, " and world_size = ", m.world_size));
  }
  for (const ManifestParam& p : m.params) {
    int64_t numel = 1;
    for (int64_t d : p.shape) numel *= d;
    std::vector<ManifestPiece> pieces = p.pieces;
    std::sort(pieces.begin(), pieces.end(),
              [](const ManifestPiece& a, const ManifestPiece& b) { return a.offset < b.offset; });
    int64_t next = 0;
    for (const ManifestPiece& piece : pieces) {
      if (piece.offset != next || piece.numel < 1 || piece.rank < 0 ||
          piece.rank >= m.partition_world) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": params.", p.name, ".pieces do not tile the parameter: piece (rank ",
            piece.rank, ", offset ", piece.offset, ", numel ", piece.numel, ") where offset ",
            next, " was expected"));
      }
      next += piece.numel;
    }
    if (next != numel || p.group < 0 || p.group >= static_cast<int>(m.groups.size())) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": params.", p.name, " covers ", next,
                                                     " of ", numel, " elements (group ", p.group,
                                                     ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const ManifestParam* CheckpointManifest::FindParam(const std::string& name) const {
  for (const ManifestParam& p : params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const ManifestFile* CheckpointManifest::FindFile(const std::string& path, int node) const {
  for (const ManifestFile& f : files) {
    if (f.path == path && f.node == node) return &f;
  }
  return nullptr;
}

std::string StateFileName(int partition_rank) {
  return absl::StrFormat("zero/rank_%05d.safetensors", partition_rank);
}

std::string StateTensorName(const std::string& param, const std::string& kind) {
  return absl::StrCat(param, "/", kind);
}

json ManifestToJson(const CheckpointManifest& m) {
  json j;
  j["format"] = kCheckpointFormat;
  j["format_version"] = kCheckpointFormatVersion;
  j["step"] = m.step;
  j["kind"] = m.kind;
  j["world_size"] = m.world_size;
  j["zero_stage"] = m.stage;
  j["partition_world"] = m.partition_world;
  j["save_on_each_node"] = m.save_on_each_node;
  j["engine"] = {{"applied_steps", m.applied_steps},
                 {"skipped_steps", m.skipped_steps},
                 {"loss_scaler",
                  {{"cur_scale", m.loss_scaler.cur_scale},
                   {"cur_iter", m.loss_scaler.cur_iter},
                   {"last_overflow_iter", m.loss_scaler.last_overflow_iter},
                   {"cur_hysteresis", m.loss_scaler.cur_hysteresis}}}};
  j["groups"] = json::array();
  for (const ManifestGroup& g : m.groups) {
    j["groups"].push_back({{"params", g.params},
                           {"param_dtype", g.param_dtype},
                           {"master_dtype", g.master_dtype},
                           {"weight_decay", g.weight_decay},
                           {"bucket_numel", g.bucket_numel},
                           {"alignment_numel", g.alignment_numel},
                           {"flat_numel", g.flat_numel},
                           {"partition_numel", g.partition_numel}});
  }
  j["params"] = json::object();
  for (const ManifestParam& p : m.params) {
    json pieces = json::array();
    for (const ManifestPiece& piece : p.pieces) pieces.push_back(PieceJson(piece));
    j["params"][p.name] = {{"group", p.group}, {"shape", p.shape}, {"pieces", pieces}};
  }
  j["state_files"] = m.state_files;
  j["files"] = json::array();
  for (const ManifestFile& f : m.files) {
    j["files"].push_back(
        {{"path", f.path}, {"node", f.node}, {"sha256", f.sha256}, {"bytes", f.bytes}});
  }
  j["rank_nodes"] = m.rank_nodes;
  j["rank_states"] = m.rank_states;
  j["client_state"] = m.client_state;
  j["base_model"] = {{"path", m.base_model_dir}, {"fingerprint", m.base_model_fingerprint}};
  j[kChecksumKey] = Sha256Hex(j.dump());
  return j;
}

absl::StatusOr<CheckpointManifest> ReadManifest(const std::string& checkpoint_dir) {
  const std::string path = absl::StrCat(checkpoint_dir, "/", kManifestFileName);
  ZT_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat(path, " is not a JSON object (corrupt or partial)"));
  }
  if (!j.contains(kChecksumKey) || !j[kChecksumKey].is_string()) {
    return absl::DataLossError(absl::StrCat(path, " has no \"", kChecksumKey, "\""));
  }
  const std::string recorded = j[kChecksumKey].get<std::string>();
  j.erase(kChecksumKey);
  const std::string actual = Sha256Hex(j.dump());
  if (actual != recorded) {
    return absl::DataLossError(absl::StrCat(path, " is corrupt: its content hashes to ", actual,
                                            " but it records manifest_sha256 ", recorded));
  }
  CheckpointManifest m;
  try {
    FromJson(j, m);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  ZT_RETURN_IF_ERROR(CheckConsistent(m, path));
  return m;
}

namespace {

constexpr char kContentsScheme[] = "contents-v2:";
constexpr int64_t kSampleBlocks = 64;
constexpr int64_t kSampleBlockBytes = 4096;

// config.json, then per *.safetensors file in name order its name and header; with
// `sample_contents` also its size and kSampleBlocks blocks spread evenly over its data (the
// first and the last included): what tells two models of the same shapes apart.
absl::StatusOr<std::string> FingerprintMaterial(const std::string& model_dir,
                                                bool sample_contents) {
  namespace fs = std::filesystem;
  const std::string config = absl::StrCat(model_dir, "/config.json");
  ZT_ASSIGN_OR_RETURN(std::string material, ReadWholeFile(config));
  material = absl::StrCat("config.json\n", material);
  std::vector<std::string> names;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(model_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (absl::EndsWith(name, ".safetensors")) names.push_back(name);
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", model_dir, ": ", ec.message()));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(model_dir, "/", name);
    std::ifstream in(path, std::ios::binary);
    unsigned char len_bytes[8] = {};
    if (!in.read(reinterpret_cast<char*>(len_bytes), 8)) {
      return absl::InvalidArgumentError(absl::StrCat(path, " is shorter than a safetensors header"));
    }
    uint64_t len = 0;
    for (int i = 7; i >= 0; --i) len = (len << 8) | len_bytes[i];
    if (len > 100'000'000) {
      return absl::InvalidArgumentError(absl::StrCat(path, " declares a ", len, "-byte header"));
    }
    std::string header(len, '\0');
    if (!in.read(header.data(), static_cast<std::streamsize>(len))) {
      return absl::InvalidArgumentError(absl::StrCat(path, " is cut inside its header"));
    }
    absl::StrAppend(&material, "\n", name, "\n", header);
    if (!sample_contents) continue;
    const int64_t size = static_cast<int64_t>(fs::file_size(path, ec));
    if (ec) return absl::InternalError(absl::StrCat("cannot stat ", path, ": ", ec.message()));
    const int64_t data_start = 8 + static_cast<int64_t>(len);
    const int64_t data_bytes = size - data_start;
    absl::StrAppend(&material, "\nsize ", size, "\n");
    const int64_t block = std::min(kSampleBlockBytes, data_bytes);
    std::string bytes(static_cast<size_t>(block), '\0');
    for (int64_t i = 0; block > 0 && i < kSampleBlocks; ++i) {
      const int64_t offset = data_start + (data_bytes - block) * i / (kSampleBlocks - 1);
      in.seekg(offset);
      if (!in.read(bytes.data(), block)) {
        return absl::InvalidArgumentError(absl::StrCat(path, " cannot be read at byte ", offset));
      }
      material += bytes;
    }
  }
  return material;
}

}  // namespace

absl::StatusOr<std::string> BaseModelFingerprint(const std::string& model_dir) {
  ZT_ASSIGN_OR_RETURN(const std::string material,
                      FingerprintMaterial(model_dir, /*sample_contents=*/true));
  return absl::StrCat(kContentsScheme, Sha256Hex(material));
}

absl::StatusOr<std::string> BaseModelFingerprintLike(const std::string& model_dir,
                                                     const std::string& recorded) {
  if (absl::StartsWith(recorded, kContentsScheme)) return BaseModelFingerprint(model_dir);
  ZT_ASSIGN_OR_RETURN(const std::string material,
                      FingerprintMaterial(model_dir, /*sample_contents=*/false));
  return Sha256Hex(material);
}

absl::Status VerifyFile(const std::string& checkpoint_dir, const ManifestFile& file) {
  const std::string path = absl::StrCat(checkpoint_dir, "/", file.path);
  absl::StatusOr<FileDigest> digest = Sha256File(path);
  if (absl::IsNotFound(digest.status())) {
    return absl::NotFoundError(absl::StrCat("checkpoint file ", path,
                                            " listed in its manifest is missing"));
  }
  ZT_RETURN_IF_ERROR(digest.status());
  if (digest->sha256 != file.sha256 || digest->bytes != file.bytes) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint file ", path, " is corrupt: SHA-256 ", digest->sha256, " (", digest->bytes,
        " bytes) but the manifest records ", file.sha256, " (", file.bytes, " bytes)"));
  }
  return absl::OkStatus();
}

}  // namespace zt::worker::train
