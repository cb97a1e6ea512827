// Paths of the committed fixtures under $ZT_TEST_DATA (set by CTest to tests/data).
#pragma once

#include <cstdlib>
#include <string>

namespace zt::configs::testing {

inline std::string TestData(const std::string& relative) {
  const char* root = std::getenv("ZT_TEST_DATA");
  return std::string(root != nullptr ? root : "tests/data") + "/" + relative;
}

}  // namespace zt::configs::testing
