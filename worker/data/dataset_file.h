// Reading dataset files (a JSON array or JSON lines, told apart by the first non-space byte)
// and mixing several of them: --data_path "a.json,b.jsonl#500" takes every record of a.json and
// 500 of b.jsonl (a seeded sample without replacement when the file has more, whole repeats
// plus a sample when it has fewer), so `#N` sets each file's share of the mix.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zt::worker::data {

struct RawRecord {
  std::string where;  // "file:line" (JSON lines) or "file: record N" (JSON array)
  nlohmann::ordered_json value;
};

// Every record of one file. A JSON line that does not parse is an error naming file:line,
// unless `skip_bad` (then it is counted in *skipped).
absl::StatusOr<std::vector<RawRecord>> ReadDatasetFile(const std::string& path, bool skip_bad, int64_t* skipped);

struct DatasetSpec {
  std::string path;
  int64_t count = -1;  // -1: every record
};

// Parses "a.json,b.jsonl#500". InvalidArgument naming --data_path for an empty path or bad N.
absl::StatusOr<std::vector<DatasetSpec>> ParseDatasetSpecs(absl::string_view data_path);

// Reads and mixes the datasets: each file's records (or its #N sample, chosen by `seed`), in
// file order. Shuffling across files is the sampler's job.
absl::StatusOr<std::vector<RawRecord>> ReadDatasets(const std::vector<DatasetSpec>& specs, uint64_t seed,
                                                    bool skip_bad, int64_t* skipped);

}  // namespace zt::worker::data
