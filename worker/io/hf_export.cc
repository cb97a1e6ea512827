#include "worker/io/hf_export.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/io/sharded_safetensors.h"

namespace zt::worker::io {

const std::vector<std::string>& TokenizerFileNames() {
  static const std::vector<std::string> kNames = {
      "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
      "special_tokens_map.json", "added_tokens.json", "chat_template.jinja",
      "chat_template.json", "generation_config.json"};
  return kNames;
}

absl::Status WriteHfModelFolder(const std::string& out_dir, const nlohmann::json& config,
                                const NamedTensors& tensors, uint64_t max_shard_bytes,
                                const std::string& tokenizer_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", out_dir, ": ", ec.message()));
  {
    const std::string path = out_dir + "/config.json";
    std::ofstream out(path, std::ios::trunc);
    out << config.dump(2) << "\n";
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  ZT_RETURN_IF_ERROR(WriteShardedSafetensors(out_dir, tensors, max_shard_bytes));
  if (tokenizer_dir.empty()) return absl::OkStatus();
  if (fs::equivalent(tokenizer_dir, out_dir, ec)) return absl::OkStatus();
  for (const std::string& name : TokenizerFileNames()) {
    const fs::path from = fs::path(tokenizer_dir) / name;
    if (!fs::exists(from, ec)) continue;
    fs::copy_file(from, fs::path(out_dir) / name, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot copy ", from.string(), " to ", out_dir,
                                              ": ", ec.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ReadConfigJson(const std::string& dir) {
  const std::string path = dir + "/config.json";
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));
  }
  return json;
}

}  // namespace zt::worker::io
