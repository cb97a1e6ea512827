// GlooCommunicator across real processes: the collective suite at world sizes 2 and 4, then
// what happens when a rank never arrives (at rendezvous or at an op), dies mid-op, or the
// communicator is aborted.
#include "sharding/collectives/gloo_communicator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sharding/collectives/file_store.h"
#include "sharding/collectives/prefix_store.h"
#include "tests/sharding/collective_suite.h"
#include "tests/support/rank_processes.h"
#include "tests/support/temp_dir.h"

namespace zt::sharding {
namespace {

std::shared_ptr<Store> GlooTestStore() {
  const char* dir = std::getenv("ZT_TEST_STORE_DIR");
  std::shared_ptr<Store> base = *FileStore::Open(dir == nullptr ? "" : dir);
  return std::shared_ptr<Store>(*JobStore(base, "gloo-test", 0));
}

std::unique_ptr<GlooCommunicator> ConnectGloo(int rank, absl::Duration within = absl::Seconds(60)) {
  GlooOptions options;
  options.hostname = "127.0.0.1";
  absl::StatusOr<std::unique_ptr<GlooCommunicator>> comm = GlooCommunicator::Create(
      GlooTestStore(), rank, zt::testing::ChildWorldSize(), absl::Now() + within, options);
  EXPECT_TRUE(comm.ok()) << comm.status();
  return comm.ok() ? std::move(*comm) : nullptr;
}

void RunGlooRanks(int world, absl::Duration timeout = absl::Seconds(240)) {
  zt::testing::TempDir dir;
  zt::testing::ExpectRanksSucceed(
      zt::testing::RunRanks(world, timeout, {"ZT_TEST_STORE_DIR=" + dir.Join("store")}));
}

TEST(GlooCommunicatorTest, CollectiveSuiteAtWorldSize2) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::unique_ptr<GlooCommunicator> comm = ConnectGloo(*rank);
    ASSERT_NE(comm, nullptr);
    EXPECT_EQ(comm->BackendName(), "gloo");
    testing::RunCollectiveSuite(*comm, at::kCPU);
    testing::ExpectAbortFailsLaterOps(*comm, at::kCPU);
    return;
  }
  RunGlooRanks(2);
}

TEST(GlooCommunicatorTest, CollectiveSuiteAtWorldSize4) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::unique_ptr<GlooCommunicator> comm = ConnectGloo(*rank);
    ASSERT_NE(comm, nullptr);
    testing::RunCollectiveSuite(*comm, at::kCPU);
    return;
  }
  RunGlooRanks(4);
}

TEST(GlooCommunicatorTest, ARestartedGenerationIgnoresTheAddressesOfAnOlderOne) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    const char* dir = std::getenv("ZT_TEST_STORE_DIR");
    std::shared_ptr<Store> base = *FileStore::Open(dir == nullptr ? "" : dir);
    // Generation 0 died and left its (now dead) addresses behind.
    std::shared_ptr<Store> old_generation(*JobStore(base, "gloo-test", 0));
    ASSERT_TRUE(old_generation->Set(absl::StrCat("gloo/", *rank), "dead address").ok());
    GlooOptions options;
    options.hostname = "127.0.0.1";
    absl::StatusOr<std::unique_ptr<GlooCommunicator>> comm =
        GlooCommunicator::Create(std::shared_ptr<Store>(*JobStore(base, "gloo-test", 1)), *rank, 2,
                                 absl::Now() + absl::Seconds(60), options);
    ASSERT_TRUE(comm.ok()) << comm.status();
    at::Tensor tensor = at::full({4}, *rank + 1.0, at::kFloat);
    ASSERT_TRUE((*comm)
                    ->AllReduce(tensor, ReduceOp::kSum)
                    .value()
                    ->Wait(absl::Now() + absl::Seconds(30))
                    .ok());
    EXPECT_TRUE(at::equal(tensor, at::full({4}, 3.0, at::kFloat)));
    return;
  }
  RunGlooRanks(2, absl::Seconds(60));
}

TEST(GlooCommunicatorTest, ARankThatNeverJoinsFailsRendezvousAtTheDeadline) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    if (*rank == 2) return;  // never arrives
    const absl::Time start = absl::Now();
    GlooOptions options;
    options.hostname = "127.0.0.1";
    absl::StatusOr<std::unique_ptr<GlooCommunicator>> comm = GlooCommunicator::Create(
        GlooTestStore(), *rank, 3, start + absl::Milliseconds(1500), options);
    ASSERT_EQ(comm.status().code(), absl::StatusCode::kDeadlineExceeded) << comm.status();
    EXPECT_NE(comm.status().message().find("gloo/2"), std::string::npos) << comm.status();
    EXPECT_LT(absl::Now() - start, absl::Seconds(6));
    return;
  }
  RunGlooRanks(3, absl::Seconds(60));
}

TEST(GlooCommunicatorTest, ARankThatSkipsAnOpGivesDeadlineExceededThenAbortEndsIt) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::unique_ptr<GlooCommunicator> comm = ConnectGloo(*rank);
    ASSERT_NE(comm, nullptr);
    std::shared_ptr<Store> store = GlooTestStore();
    if (*rank == 1) {
      // Joins no op; stays connected until rank 0 has checked.
      ASSERT_TRUE(store->Wait({"checked"}, absl::Now() + absl::Seconds(60)).ok());
      return;
    }
    at::Tensor tensor = at::ones({100000}, at::kFloat);
    absl::StatusOr<std::unique_ptr<Work>> work = comm->AllReduce(tensor, ReduceOp::kSum);
    ASSERT_TRUE(work.ok()) << work.status();
    absl::Time start = absl::Now();
    absl::Status status = (*work)->Wait(start + absl::Milliseconds(500));
    EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
    EXPECT_NE(status.message().find("all_reduce"), std::string::npos) << status;
    EXPECT_LT(absl::Now() - start, absl::Seconds(3));
    EXPECT_FALSE((*work)->IsCompleted());
    start = absl::Now();
    comm->Abort(absl::DeadlineExceededError("watchdog: all_reduce overdue"));
    status = (*work)->Wait(start + absl::Seconds(10));
    EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
    EXPECT_NE(status.message().find("watchdog: all_reduce overdue"), std::string::npos) << status;
    EXPECT_LT(absl::Now() - start, absl::Seconds(2));
    ASSERT_TRUE(store->Set("checked", "1").ok());
    return;
  }
  RunGlooRanks(2, absl::Seconds(60));
}

TEST(GlooCommunicatorTest, AnOpWithoutProgressFailsByItselfAfterTheOpTimeout) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    GlooOptions options;
    options.hostname = "127.0.0.1";
    options.op_timeout = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<GlooCommunicator>> comm = GlooCommunicator::Create(
        GlooTestStore(), *rank, 2, absl::Now() + absl::Seconds(60), options);
    ASSERT_TRUE(comm.ok()) << comm.status();
    std::shared_ptr<Store> store = GlooTestStore();
    if (*rank == 1) {
      ASSERT_TRUE(store->Wait({"checked"}, absl::Now() + absl::Seconds(60)).ok());
      return;
    }
    at::Tensor tensor = at::ones({1000}, at::kFloat);
    const absl::Time start = absl::Now();
    absl::Status status =
        (*comm)->AllReduce(tensor, ReduceOp::kSum).value()->Wait(start + absl::Seconds(30));
    EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
    EXPECT_NE(status.message().find("Gloo"), std::string::npos) << status;
    EXPECT_GE(absl::Now() - start, absl::Milliseconds(900));
    EXPECT_LT(absl::Now() - start, absl::Seconds(10));
    ASSERT_TRUE(store->Set("checked", "1").ok());
    return;
  }
  RunGlooRanks(2, absl::Seconds(60));
}

TEST(GlooCommunicatorTest, APeerThatDiesFailsTheOpWithAborted) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::unique_ptr<GlooCommunicator> comm = ConnectGloo(*rank);
    ASSERT_NE(comm, nullptr);
    ASSERT_TRUE(comm->Barrier().value()->Wait(absl::Now() + absl::Seconds(30)).ok());
    if (*rank == 1) _exit(0);  // dies without closing anything
    at::Tensor tensor = at::ones({1 << 20}, at::kFloat);
    absl::StatusOr<std::unique_ptr<Work>> work = comm->AllReduce(tensor, ReduceOp::kSum);
    ASSERT_TRUE(work.ok()) << work.status();
    const absl::Time start = absl::Now();
    absl::Status status = (*work)->Wait(start + absl::Seconds(30));
    EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
    EXPECT_LT(absl::Now() - start, absl::Seconds(10));
    return;
  }
  RunGlooRanks(2, absl::Seconds(60));
}

}  // namespace
}  // namespace zt::sharding
