// Paths of committed fixtures: $ZT_TEST_DATA (set by CTest) or, when a test binary is run by
// hand, the source tree's tests/data compiled in.
#pragma once

#include <string>

namespace zt::testing {

// "<tests/data>/<relative>".
std::string TestDataPath(const std::string& relative);

}  // namespace zt::testing
