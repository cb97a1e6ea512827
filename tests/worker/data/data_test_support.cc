#include "tests/worker/data/data_test_support.h"

#include <zlib.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace zt::worker::data::testing {

std::string TestDataPath(const std::string& relative) {
  const char* root = std::getenv("ZT_TEST_DATA");
  return absl::StrCat(root != nullptr ? root : "tests/data", "/", relative);
}

absl::StatusOr<std::vector<std::string>> ReadGzipLines(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string text;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(file, buffer, sizeof(buffer))) > 0) text.append(buffer, n);
  const bool failed = n < 0;
  gzclose(file);
  if (failed) return absl::DataLossError(absl::StrCat("cannot decompress ", path));
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  return lines;
}

}  // namespace zt::worker::data::testing
