// The main of every zerotune test binary. Beyond gtest's own main:
//  - a process started by RunRanks() (tests/support/rank_processes.h) runs only its test;
//  - under CI=true, a skipped test in a multirank or e2e binary fails the run: those labels
//    must run everywhere CI runs, so a skip there hides a broken environment;
//  - a binary whose tests were all skipped exits 77 so CTest reports it as skipped.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include <gtest/gtest.h>

namespace {

bool EnvEquals(const char* name, const char* value) {
  const char* actual = std::getenv(name);
  return actual != nullptr && std::strcmp(actual, value) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  int result = RUN_ALL_TESTS();
  const testing::UnitTest& unit = *testing::UnitTest::GetInstance();
  const int skipped = unit.skipped_test_count();
  if (result == 0 && skipped > 0) {
    const bool strict_label = EnvEquals("ZT_TEST_LABEL", "multirank") || EnvEquals("ZT_TEST_LABEL", "e2e");
    if (EnvEquals("CI", "true") && strict_label) {
      std::cerr << "zerotune: " << skipped << " test(s) skipped in a " << std::getenv("ZT_TEST_LABEL")
                << " binary under CI=true; skips are failures here\n";
      return 1;
    }
    if (skipped == unit.test_to_run_count()) return 77;
  }
  return result;
}
