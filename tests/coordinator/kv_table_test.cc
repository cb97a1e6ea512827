// The coordinator store's memory caps: per value and in total, keys counted, space given back
// by Delete and by overwriting, counters included.
#include "coordinator/kv_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zt::coordinator {
namespace {

using ::testing::HasSubstr;

KvLimits SmallLimits() {
  KvLimits limits;
  limits.max_value_bytes = 1000;
  limits.max_total_bytes = 3100;
  return limits;
}

TEST(KvTableTest, ValueOverTheCapIsResourceExhaustedNamingTheCapAndItsFlag) {
  DeadlineScheduler scheduler;
  KvTable table(&scheduler, "the store", SmallLimits());
  absl::Status status = table.Set("k", std::string(1001, 'x'));
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("1001 bytes for key 'k'"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("cap of 1000 bytes per value"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("--store_max_value_bytes"));
  EXPECT_FALSE(table.Check({"k"}));
  EXPECT_TRUE(table.Set("k", std::string(1000, 'x')).ok());
}

// The finding: one token holder kept 100 x 3 MiB values (455 MiB).
TEST(KvTableTest, TotalOverTheCapIsResourceExhaustedUntilSpaceIsGivenBack) {
  DeadlineScheduler scheduler;
  KvTable table(&scheduler, "the store", SmallLimits());
  for (const char* key : {"a", "b", "c"}) ASSERT_TRUE(table.Set(key, std::string(1000, 'x')).ok());
  EXPECT_EQ(table.total_bytes(), 3003);
  absl::Status full = table.Set("d", std::string(100, 'x'));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.message()), HasSubstr("cap of 3100 bytes in total"));
  EXPECT_THAT(std::string(full.message()), HasSubstr("--store_max_total_bytes"));
  EXPECT_EQ(table.Add("counter", 1).status().code(), absl::StatusCode::kOk);  // 8 bytes fit
  EXPECT_EQ(table.Set("a", std::string(10, 'x')).code(),
            absl::StatusCode::kOk);  // overwrite shrinks
  EXPECT_TRUE(table.Set("d", std::string(900, 'x')).ok());
  EXPECT_TRUE(table.Delete("d"));
  EXPECT_EQ(table.total_bytes(), 3 + 10 + 2000 + 8);
  EXPECT_TRUE(table.Set("d", std::string(1000, 'x')).ok());
}

}  // namespace
}  // namespace zt::coordinator
