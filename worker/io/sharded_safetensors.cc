#include "worker/io/sharded_safetensors.h"

#include <sys/stat.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace zt::worker::io {
namespace {

using Json = nlohmann::json;

bool FileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::StatusOr<Json> ReadIndex(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  Json json = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object() || !json.contains("weight_map") ||
      !json["weight_map"].is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": expected a JSON object with a \"weight_map\" object of tensor name -> shard file"));
  }
  return json;
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ShardedSafetensors> ShardedSafetensors::Open(const std::string& dir,
                                                            const std::string& stem) {
  ShardedSafetensors result;
  result.dir_ = dir;
  const std::string index_path = absl::StrCat(dir, "/", stem, ".safetensors.index.json");
  const std::string single_path = absl::StrCat(dir, "/", stem, ".safetensors");
  if (!FileExists(index_path)) {
    if (!FileExists(single_path)) {
      return absl::NotFoundError(absl::StrCat(dir, ": has neither ", stem, ".safetensors nor ",
                                              stem, ".safetensors.index.json"));
    }
    ZT_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(single_path));
    for (const std::string& name : file->Names()) result.where_[name] = 0;
    result.files_.push_back(std::move(file));
    return result;
  }
  ZT_ASSIGN_OR_RETURN(Json index, ReadIndex(index_path));
  std::map<std::string, size_t> shard_of_file;
  for (const auto& [name, shard] : index["weight_map"].items()) {
    if (!shard.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(index_path, ": weight_map[\"", name,
                                                     "\"] must be a file name string"));
    }
    const std::string file_name = shard.get<std::string>();
    if (file_name.empty() || file_name.find('/') != std::string::npos || file_name == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          index_path, ": weight_map[\"", name, "\"] = \"", file_name,
          "\", expected a shard file name inside the folder"));
    }
    auto it = shard_of_file.find(file_name);
    if (it == shard_of_file.end()) {
      ZT_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(absl::StrCat(dir, "/", file_name)));
      it = shard_of_file.emplace(file_name, result.files_.size()).first;
      result.files_.push_back(std::move(file));
    }
    if (!result.files_[it->second]->Contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat(index_path, ": weight_map puts \"", name,
                                                     "\" in ", file_name, ", which lacks it"));
    }
    result.where_[name] = it->second;
  }
  for (size_t i = 0; i < result.files_.size(); ++i) {
    for (const std::string& name : result.files_[i]->Names()) {
      auto it = result.where_.find(name);
      if (it == result.where_.end() || it->second != i) {
        return absl::InvalidArgumentError(absl::StrCat(
            result.files_[i]->path(), ": holds \"", name, "\", which ", index_path,
            it == result.where_.end() ? " does not list" : " places in another shard"));
      }
    }
  }
  return result;
}

std::vector<std::string> ShardedSafetensors::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, index] : where_) names.push_back(name);
  return names;
}

absl::StatusOr<at::Tensor> ShardedSafetensors::Get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) {
    return absl::NotFoundError(absl::StrCat(dir_, ": no tensor named \"", name, "\" among ",
                                            where_.size(), " (hint: maybe wrong base model?)"));
  }
  return files_[it->second]->Get(name);
}

std::string ShardedSafetensors::FileOf(const std::string& name) const {
  auto it = where_.find(name);
  return it == where_.end() ? "" : files_[it->second]->path();
}

absl::StatusOr<uint64_t> ParseByteSize(const std::string& text, const std::string& flag) {
  static const std::pair<const char*, uint64_t> kUnits[] = {
      {"TIB", 1ull << 40}, {"GIB", 1ull << 30}, {"MIB", 1ull << 20}, {"KIB", 1ull << 10},
      {"TB", 1000000000000ull}, {"GB", 1000000000ull}, {"MB", 1000000ull}, {"KB", 1000ull},
      {"B", 1}, {"", 1}};
  const std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  for (const auto& [unit, factor] : kUnits) {
    const size_t n = std::string(unit).size();
    if (upper.size() <= n || upper.compare(upper.size() - n, n, unit) != 0) continue;
    double value = 0;
    if (!absl::SimpleAtod(upper.substr(0, upper.size() - n), &value) || !(value > 0) ||
        value * factor > 1.8e19) {
      break;
    }
    return static_cast<uint64_t>(value * static_cast<double>(factor));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      flag, " \"", text, "\" is not a positive size, expected e.g. 5GB, 500MB, 2GiB or bytes"));
}

absl::Status WriteShardedSafetensors(const std::string& dir, const NamedTensors& tensors,
                                     uint64_t max_shard_bytes, const std::string& stem) {
  std::vector<NamedTensors> shards(1);
  uint64_t current = 0, total = 0;
  for (const auto& item : tensors) {
    const uint64_t bytes = item.second.nbytes();
    if (!shards.back().empty() && current + bytes > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(item);
    current += bytes;
    total += bytes;
  }
  const std::string single = absl::StrCat(dir, "/", stem, ".safetensors");
  const std::string index_path = absl::StrCat(single, ".index.json");
  if (shards.size() == 1) {
    std::remove(index_path.c_str());
    return WriteSafetensors(single, shards[0]);
  }
  std::remove(single.c_str());
  Json weight_map = Json::object();
  for (size_t k = 0; k < shards.size(); ++k) {
    const std::string name =
        absl::StrFormat("%s-%05d-of-%05d.safetensors", stem, k + 1, shards.size());
    ZT_RETURN_IF_ERROR(WriteSafetensors(absl::StrCat(dir, "/", name), shards[k]));
    for (const auto& item : shards[k]) weight_map[item.first] = name;
  }
  Json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  return WriteText(index_path, index.dump(2) + "\n");
}

}  // namespace zt::worker::io
