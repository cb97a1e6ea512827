#include "common/backoff.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"

namespace zt::common {
namespace {

TEST(BackoffTest, DoublesUpToTheCap) {
  Backoff backoff({absl::Milliseconds(1), absl::Milliseconds(5), 2.0});
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(1));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(2));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(4));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(5));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(5));
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(1));
}

TEST(BackoffTest, SleepBeforeStopsAtTheDeadline) {
  Backoff backoff({absl::Seconds(10), absl::Seconds(10), 2.0});
  const absl::Time start = absl::Now();
  EXPECT_TRUE(backoff.SleepBefore(start + absl::Milliseconds(20)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // cut short, not 10 s
  EXPECT_FALSE(backoff.SleepBefore(start));            // already past
}

}  // namespace
}  // namespace zt::common
