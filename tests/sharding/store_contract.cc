// The Store contract cases; see store_contract.h.
#include "tests/sharding/store_contract.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gmock/gmock.h>

namespace zt::sharding {
namespace {

using ::testing::HasSubstr;

TEST_P(StoreContractTest, SetThenGet) {
  ASSERT_TRUE(store_->Set("a", "1").ok());
  EXPECT_EQ(*store_->Get("a", Soon()), "1");
  ASSERT_TRUE(store_->Set("a", std::string("b\0inary", 7)).ok());  // overwrite, any bytes
  EXPECT_EQ(*store_->Get("a", Soon()), std::string("b\0inary", 7));
}

TEST_P(StoreContractTest, GetWaitsForALateSet) {
  std::thread writer([this] {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(store_->Set("late", "value").ok());
  });
  absl::StatusOr<std::string> value = store_->Get("late", Soon());
  writer.join();
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "value");
}

TEST_P(StoreContractTest, GetPastTheDeadlineNamesTheKey) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> value = store_->Get("never", start + absl::Milliseconds(100));
  EXPECT_EQ(value.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(value.status().message()), HasSubstr("'never'"));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_P(StoreContractTest, WaitNamesOnlyTheMissingKeys) {
  ASSERT_TRUE(store_->Set("here", "x").ok());
  absl::Status status = store_->Wait({"here", "missing"}, absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(status.message()), HasSubstr("'missing'"));
  EXPECT_THAT(std::string(status.message()), ::testing::Not(HasSubstr("'here'")));
  ASSERT_TRUE(store_->Set("missing", "y").ok());
  EXPECT_TRUE(store_->Wait({"here", "missing"}, Soon()).ok());
}

TEST_P(StoreContractTest, AddCountsFromZeroAndGetReadsDecimal) {
  EXPECT_EQ(*store_->Add("counter", 1), 1);
  EXPECT_EQ(*store_->Add("counter", 5), 6);
  EXPECT_EQ(*store_->Add("counter", -2), 4);
  EXPECT_EQ(*store_->Get("counter", Soon()), "4");
}

TEST_P(StoreContractTest, AddOnTextIsInvalidArgument) {
  ASSERT_TRUE(store_->Set("text", "abc").ok());
  absl::StatusOr<int64_t> value = store_->Add("text", 1);
  EXPECT_EQ(value.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(value.status().message()), HasSubstr("'text'"));
}

TEST_P(StoreContractTest, AddIsAtomicAcrossThreads) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < 50; ++i) ASSERT_TRUE(store_->Add("shared", 1).ok());
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(*store_->Get("shared", Soon()), "200");
}

TEST_P(StoreContractTest, DeleteAndCheck) {
  EXPECT_FALSE(*store_->Check({"k"}));
  ASSERT_TRUE(store_->Set("k", "v").ok());
  EXPECT_TRUE(*store_->Check({"k"}));
  EXPECT_TRUE(*store_->Delete("k"));
  EXPECT_FALSE(*store_->Delete("k"));
  EXPECT_FALSE(*store_->Check({"k"}));
}

TEST_P(StoreContractTest, ManyConcurrentWaitersAllWake) {
  constexpr int kWaiters = 64;
  std::vector<std::thread> waiters;
  std::atomic<int> woken{0};
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&] {
      if (store_->Wait({"go"}, Soon()).ok()) ++woken;
    });
  }
  absl::SleepFor(absl::Milliseconds(100));
  ASSERT_TRUE(store_->Set("go", "1").ok());
  for (std::thread& waiter : waiters) waiter.join();
  EXPECT_EQ(woken.load(), kWaiters);
}

}  // namespace
}  // namespace zt::sharding
