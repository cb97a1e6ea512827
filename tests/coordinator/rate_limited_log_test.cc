// Rejection log lines are rate-limited per kind and count what they suppressed.
#include "coordinator/rate_limited_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

namespace zt::coordinator {
namespace {

using ::testing::HasSubstr;

int LineCount(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

// The finding: 20,000 rejected requests wrote 20,000 lines.
TEST(RateLimitedLogTest, AFloodOfOneKindWritesOneLinePerPeriodWithTheSuppressedCount) {
  FakeClock clock;
  std::ostringstream out;
  {
    RateLimitedLog log(&out, &clock, absl::Seconds(1));
    for (int i = 0; i < 20000; ++i) log.Log("Set: wrong job token", "rejected Set");
    EXPECT_EQ(LineCount(out.str()), 1);
    clock.Advance(absl::Milliseconds(999));
    EXPECT_FALSE(log.Log("Set: wrong job token", "rejected Set"));
    clock.Advance(absl::Milliseconds(1));
    EXPECT_TRUE(log.Log("Set: wrong job token", "rejected Set"));
    EXPECT_EQ(LineCount(out.str()), 2);
    EXPECT_THAT(out.str(), HasSubstr("rejected Set (20000 more like it suppressed"));
    // Another kind has its own budget.
    EXPECT_TRUE(log.Log("Get: wrong job token", "rejected Get"));
    EXPECT_FALSE(log.Log("Get: wrong job token", "rejected Get"));
  }
  // What was still pending is counted when the log goes away.
  EXPECT_EQ(LineCount(out.str()), 4);
  EXPECT_THAT(out.str(), HasSubstr("1 more 'Get: wrong job token' line(s) suppressed"));
}

}  // namespace
}  // namespace zt::coordinator
