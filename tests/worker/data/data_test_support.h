// Helpers shared by the worker/data tests: fixture paths and gzip-compressed JSON-lines files.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace zt::worker::data::testing {

// $ZT_TEST_DATA/<relative> (the tests/data folder; CTest sets ZT_TEST_DATA).
std::string TestDataPath(const std::string& relative);

// The lines of a gzip file (or a plain file), without their '\n'.
absl::StatusOr<std::vector<std::string>> ReadGzipLines(const std::string& path);

}  // namespace zt::worker::data::testing
