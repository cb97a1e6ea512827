#include "worker/data/dataset_file.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "worker/data/distributed_sampler.h"

namespace zt::worker::data {
namespace {

using Json = nlohmann::ordered_json;

absl::StatusOr<std::vector<RawRecord>> ReadJsonLines(const std::string& path, const std::string& text,
                                                     bool skip_bad, int64_t* skipped) {
  std::vector<RawRecord> out;
  size_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == absl::string_view::npos) continue;
    const std::string where = absl::StrCat(path, ":", line_number);
    Json value = Json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) {
      if (skip_bad) {
        ++*skipped;
        continue;
      }
      return absl::InvalidArgumentError(absl::StrCat(where, ": not valid JSON (expected one JSON object per line)"));
    }
    out.push_back({where, std::move(value)});
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<RawRecord>> ReadDatasetFile(const std::string& path, bool skip_bad, int64_t* skipped) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    // An ifstream opens a folder and reads nothing from it: it would look like an empty file.
    return absl::InvalidArgumentError(absl::StrCat(
        "--data_path: '", path, "' is a folder; expected a JSON or JSONL file (several files: "
        "a comma-separated list, path#N to sample N records of one)"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--data_path: cannot open '", path, "'"));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || text[first] != '[') return ReadJsonLines(path, text, skip_bad, skipped);
  Json array = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (array.is_discarded() || !array.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a valid JSON array (or JSON lines)"));
  }
  std::vector<RawRecord> out;
  out.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) out.push_back({absl::StrCat(path, ": record ", i), std::move(array[i])});
  return out;
}

absl::StatusOr<std::vector<DatasetSpec>> ParseDatasetSpecs(absl::string_view data_path) {
  std::vector<DatasetSpec> out;
  for (absl::string_view item : absl::StrSplit(data_path, ',', absl::SkipWhitespace())) {
    DatasetSpec spec;
    const size_t hash = item.rfind('#');
    spec.path = std::string(item.substr(0, hash));
    if (hash != absl::string_view::npos) {
      if (!absl::SimpleAtoi(item.substr(hash + 1), &spec.count) || spec.count <= 0) {
        return absl::InvalidArgumentError(absl::StrCat("--data_path '", item, "': expected PATH or PATH#N with N > 0"));
      }
    }
    if (spec.path.empty()) return absl::InvalidArgumentError(absl::StrCat("--data_path '", data_path, "': empty path"));
    out.push_back(std::move(spec));
  }
  if (out.empty()) return absl::InvalidArgumentError("--data_path: no dataset given");
  return out;
}

absl::StatusOr<std::vector<RawRecord>> ReadDatasets(const std::vector<DatasetSpec>& specs, uint64_t seed,
                                                    bool skip_bad, int64_t* skipped) {
  std::vector<RawRecord> out;
  for (size_t f = 0; f < specs.size(); ++f) {
    auto records = ReadDatasetFile(specs[f].path, skip_bad, skipped);
    if (!records.ok()) return records.status();
    const int64_t n = static_cast<int64_t>(records->size());
    if (specs[f].count < 0 || specs[f].count == n) {
      std::move(records->begin(), records->end(), std::back_inserter(out));
      continue;
    }
    if (n == 0) return absl::InvalidArgumentError(absl::StrCat(specs[f].path, ": no records to sample #", specs[f].count, " from"));
    for (int64_t k = 0; k < specs[f].count / n; ++k) out.insert(out.end(), records->begin(), records->end());
    std::vector<int64_t> order = SeededPermutation(n, seed + 0x9E3779B97F4A7C15ULL * (f + 1));
    order.resize(specs[f].count % n);
    std::sort(order.begin(), order.end());  // keep file order inside the sample
    for (int64_t i : order) out.push_back((*records)[i]);
  }
  return out;
}

}  // namespace zt::worker::data
