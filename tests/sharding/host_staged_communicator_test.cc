// HostStagedCommunicator over Gloo, with staging forced for CPU tensors so that every staging
// path (copy out, host op, copy back in Wait()) runs without a GPU; the CUDA-tensor run is the
// same suite on a GPU host (label gpu).
#include "sharding/collectives/host_staged_communicator.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "sharding/collectives/file_store.h"
#include "sharding/collectives/gloo_communicator.h"
#include "sharding/collectives/prefix_store.h"
#include "tests/sharding/collective_suite.h"
#include "tests/support/rank_processes.h"
#include "tests/support/temp_dir.h"

namespace zt::sharding {
namespace {

std::unique_ptr<HostStagedCommunicator> ConnectStaged(int rank) {
  const char* dir = std::getenv("ZT_TEST_STORE_DIR");
  std::shared_ptr<Store> base = *FileStore::Open(dir == nullptr ? "" : dir);
  std::shared_ptr<Store> store(*JobStore(base, "staged-test", 0));
  GlooOptions options;
  options.hostname = "127.0.0.1";
  absl::StatusOr<std::unique_ptr<GlooCommunicator>> gloo = GlooCommunicator::Create(
      store, rank, zt::testing::ChildWorldSize(), absl::Now() + absl::Seconds(60), options);
  EXPECT_TRUE(gloo.ok()) << gloo.status();
  if (!gloo.ok()) return nullptr;
  HostStagedOptions staged;
  staged.stage_host_tensors = true;
  return std::make_unique<HostStagedCommunicator>(std::move(*gloo), staged);
}

TEST(HostStagedCommunicatorTest, CollectiveSuiteAtWorldSize2ThroughStagingBuffers) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::unique_ptr<HostStagedCommunicator> comm = ConnectStaged(*rank);
    ASSERT_NE(comm, nullptr);
    EXPECT_EQ(comm->BackendName(), "host-staged");
    testing::RunCollectiveSuite(*comm, at::kCPU);
    testing::ExpectAbortFailsLaterOps(*comm, at::kCPU);
    return;
  }
  zt::testing::TempDir dir;
  zt::testing::ExpectRanksSucceed(
      zt::testing::RunRanks(2, absl::Seconds(240), {"ZT_TEST_STORE_DIR=" + dir.Join("store")}));
}

TEST(HostStagedCommunicatorTest, ResultsReachTheCallersTensorOnlyInWait) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::unique_ptr<HostStagedCommunicator> comm = ConnectStaged(*rank);
    ASSERT_NE(comm, nullptr);
    at::Tensor tensor = at::full({5}, *rank + 1.0, at::kFloat);
    absl::StatusOr<std::unique_ptr<Work>> work = comm->AllReduce(tensor, ReduceOp::kSum);
    ASSERT_TRUE(work.ok()) << work.status();
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!(*work)->IsCompleted() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
    // The host op finished, but the staged result is copied back only by Wait().
    EXPECT_TRUE(at::equal(tensor, at::full({5}, *rank + 1.0, at::kFloat)));
    ASSERT_TRUE((*work)->Wait(deadline).ok());
    EXPECT_TRUE(at::equal(tensor, at::full({5}, 3.0, at::kFloat)));
    return;
  }
  zt::testing::TempDir dir;
  zt::testing::ExpectRanksSucceed(
      zt::testing::RunRanks(2, absl::Seconds(60), {"ZT_TEST_STORE_DIR=" + dir.Join("store")}));
}

}  // namespace
}  // namespace zt::sharding
