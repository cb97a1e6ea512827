// NcclCommunicator (label gpu: built in CPU CI, run where a GPU is): the collective suite at
// world size 1 on CUDA tensors, init that ends at its deadline when a rank never joins, and
// generation scoping of the unique id. With Gloo, also the host-staged communicator on CUDA
// tensors at world size 2, two processes sharing one GPU (what NCCL itself refuses).
#include "sharding/collectives/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "sharding/collectives/file_store.h"
#include "sharding/collectives/in_memory_store.h"
#include "sharding/collectives/prefix_store.h"
#include "tests/sharding/collective_suite.h"
#include "tests/support/rank_processes.h"
#include "tests/support/temp_dir.h"

#if ZT_TEST_HOST_STAGED_CUDA
#include "sharding/collectives/gloo_communicator.h"
#include "sharding/collectives/host_staged_communicator.h"
#endif

namespace zt::sharding {
namespace {

bool HasCudaDevice() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

std::shared_ptr<Store> GenerationStore(std::shared_ptr<Store> base, int64_t generation) {
  return std::shared_ptr<Store>(*JobStore(std::move(base), "nccl-test", generation));
}

TEST(NcclCommunicatorTest, CollectiveSuiteAtWorldSize1) {
  if (!HasCudaDevice()) GTEST_SKIP() << "no CUDA device";
  absl::StatusOr<std::unique_ptr<NcclCommunicator>> comm =
      NcclCommunicator::Create(GenerationStore(std::make_shared<InMemoryStore>(), 0), 0, 1, 0,
                               absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(comm.ok()) << comm.status();
  EXPECT_EQ((*comm)->BackendName(), "nccl");
  testing::RunCollectiveSuite(**comm, at::Device(at::kCUDA, 0));
  testing::ExpectAbortFailsLaterOps(**comm, at::Device(at::kCUDA, 0));
}

TEST(NcclCommunicatorTest, InitEndsAtItsDeadlineWhenARankNeverJoins) {
  if (!HasCudaDevice()) GTEST_SKIP() << "no CUDA device";
  const absl::Time start = absl::Now();
  // Rank 0 of 2 publishes its id; rank 1 never comes.
  absl::StatusOr<std::unique_ptr<NcclCommunicator>> comm = NcclCommunicator::Create(
      GenerationStore(std::make_shared<InMemoryStore>(), 0), 0, 2, 0, start + absl::Seconds(3));
  ASSERT_EQ(comm.status().code(), absl::StatusCode::kDeadlineExceeded) << comm.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
}

TEST(NcclCommunicatorTest, ARestartedRankNeverReadsAnOlderGenerationsId) {
  if (!HasCudaDevice()) GTEST_SKIP() << "no CUDA device";
  auto base = std::make_shared<InMemoryStore>();
  // Generation 0 left a (here malformed) id behind; generation 1's rank 1 must not see it.
  ASSERT_TRUE(GenerationStore(base, 0)->Set("nccl/unique_id", "stale").ok());
  absl::StatusOr<std::unique_ptr<NcclCommunicator>> comm = NcclCommunicator::Create(
      GenerationStore(base, 1), 1, 2, 0, absl::Now() + absl::Milliseconds(500));
  ASSERT_EQ(comm.status().code(), absl::StatusCode::kDeadlineExceeded) << comm.status();
  EXPECT_NE(comm.status().message().find("gen1"), std::string::npos) << comm.status();
}

#if ZT_TEST_HOST_STAGED_CUDA
TEST(HostStagedCudaTest, CollectiveSuiteAtWorldSize2OnOneGpu) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::shared_ptr<Store> base = *FileStore::Open(std::getenv("ZT_TEST_STORE_DIR"));
    GlooOptions options;
    options.hostname = "127.0.0.1";
    absl::StatusOr<std::unique_ptr<GlooCommunicator>> gloo = GlooCommunicator::Create(
        GenerationStore(base, 0), *rank, 2, absl::Now() + absl::Seconds(60), options);
    ASSERT_TRUE(gloo.ok()) << gloo.status();
    HostStagedCommunicator comm(std::move(*gloo));
    testing::RunCollectiveSuite(comm, at::Device(at::kCUDA, 0));
    return;
  }
  if (!HasCudaDevice()) GTEST_SKIP() << "no CUDA device";
  zt::testing::TempDir dir;
  zt::testing::ExpectRanksSucceed(
      zt::testing::RunRanks(2, absl::Seconds(300), {"ZT_TEST_STORE_DIR=" + dir.Join("store")}));
}
#endif

}  // namespace
}  // namespace zt::sharding
