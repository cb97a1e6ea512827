#include "tests/support/test_data.h"

#include <cstdlib>

namespace zt::testing {

std::string TestDataPath(const std::string& relative) {
  const char* root = std::getenv("ZT_TEST_DATA");
  return std::string(root != nullptr && root[0] != '\0' ? root : ZT_SOURCE_TEST_DATA) + "/" + relative;
}

}  // namespace zt::testing
