// The Store contract (tests/sharding/store_test.cc) against the coordinator's gRPC store, plus
// what only a networked store has: job/generation scoping and waits that hold no thread.
#include "coordinator/grpc_store.h"

#include <memory>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "sharding/prefix_store.h"
#include "tests/coordinator/coordinator_harness.h"

namespace zt::coordinator {
namespace {

using ::testing::HasSubstr;

class GrpcStoreContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    harness_ = testing::Harness::Start(JobOptions{});
    ASSERT_NE(harness_, nullptr);
    store_ = std::make_shared<GrpcStore>(harness_->NewClient());
  }
  absl::Time Soon() const { return absl::Now() + absl::Seconds(10); }

  std::unique_ptr<testing::Harness> harness_;
  std::shared_ptr<sharding::Store> store_;
};

TEST_F(GrpcStoreContractTest, SetThenGet) {
  ASSERT_TRUE(store_->Set("a", "1").ok());
  EXPECT_EQ(*store_->Get("a", Soon()), "1");
  ASSERT_TRUE(store_->Set("a", std::string("b\0inary", 7)).ok());
  EXPECT_EQ(*store_->Get("a", Soon()), std::string("b\0inary", 7));
}

TEST_F(GrpcStoreContractTest, GetWaitsForALateSet) {
  std::thread writer([this] {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(store_->Set("late", "value").ok());
  });
  absl::StatusOr<std::string> value = store_->Get("late", Soon());
  writer.join();
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "value");
}

TEST_F(GrpcStoreContractTest, GetPastTheDeadlineNamesTheKey) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> value = store_->Get("never", start + absl::Milliseconds(100));
  EXPECT_EQ(value.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(value.status().message()), HasSubstr("'never'"));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(GrpcStoreContractTest, WaitNamesOnlyTheMissingKeys) {
  ASSERT_TRUE(store_->Set("here", "x").ok());
  absl::Status status = store_->Wait({"here", "missing"}, absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(status.message()), HasSubstr("'missing'"));
  EXPECT_THAT(std::string(status.message()), ::testing::Not(HasSubstr("'here'")));
  ASSERT_TRUE(store_->Set("missing", "y").ok());
  EXPECT_TRUE(store_->Wait({"here", "missing"}, Soon()).ok());
}

TEST_F(GrpcStoreContractTest, AddCountsFromZeroAndGetReadsDecimal) {
  EXPECT_EQ(*store_->Add("counter", 1), 1);
  EXPECT_EQ(*store_->Add("counter", 5), 6);
  EXPECT_EQ(*store_->Add("counter", -2), 4);
  EXPECT_EQ(*store_->Get("counter", Soon()), "4");
}

TEST_F(GrpcStoreContractTest, AddOnTextIsInvalidArgument) {
  ASSERT_TRUE(store_->Set("text", "abc").ok());
  absl::StatusOr<int64_t> value = store_->Add("text", 1);
  EXPECT_EQ(value.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(value.status().message()), HasSubstr("'text'"));
}

TEST_F(GrpcStoreContractTest, AddIsAtomicAcrossThreads) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < 50; ++i) ASSERT_TRUE(store_->Add("shared", 1).ok());
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(*store_->Get("shared", Soon()), "200");
}

TEST_F(GrpcStoreContractTest, DeleteAndCheck) {
  EXPECT_FALSE(*store_->Check({"k"}));
  ASSERT_TRUE(store_->Set("k", "v").ok());
  EXPECT_TRUE(*store_->Check({"k"}));
  EXPECT_TRUE(*store_->Delete("k"));
  EXPECT_FALSE(*store_->Delete("k"));
  EXPECT_FALSE(*store_->Check({"k"}));
}

TEST_F(GrpcStoreContractTest, EmptyKeyIsInvalidArgument) {
  EXPECT_EQ(store_->Set("", "v").code(), absl::StatusCode::kInvalidArgument);
}

// Many more concurrent waiters than the server has threads: waits hold no thread there.
TEST_F(GrpcStoreContractTest, ManyConcurrentWaitersAllWake) {
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

TEST_F(GrpcStoreContractTest, JobStoreScopesGenerations) {
  auto gen0 = *sharding::JobStore(store_, "job", 0);
  auto gen1 = *sharding::JobStore(store_, "job", 1);
  ASSERT_TRUE(gen0->Set("nccl_id", "old").ok());
  EXPECT_FALSE(*gen1->Check({"nccl_id"}));
  EXPECT_EQ(*store_->Get("zt/job/gen0/nccl_id", Soon()), "old");
}

}  // namespace
}  // namespace zt::coordinator
