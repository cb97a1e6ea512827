// The Store contract (tests/sharding/store_contract.h) against the coordinator's gRPC store, plus
// what only a networked store has: key validation and job/generation scoping.
#include "coordinator/grpc_store.h"

#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "sharding/collectives/prefix_store.h"
#include "tests/coordinator/coordinator_harness.h"
#include "tests/sharding/store_contract.h"

namespace zt::coordinator {
namespace {

using sharding::StoreContractTest;

sharding::StoreUnderTest MakeGrpcStore() {
  std::shared_ptr<testing::Harness> harness = testing::Harness::Start(JobOptions{});
  if (harness == nullptr) return {};
  return {std::make_shared<GrpcStore>(harness->NewClient()), harness};
}

// The contract's ManyConcurrentWaitersAllWake also shows that waits hold no server thread: 64
// waiters are more than the server has threads.
INSTANTIATE_TEST_SUITE_P(Grpc, StoreContractTest,
                         ::testing::Values(sharding::StoreBackend{"Grpc", MakeGrpcStore}),
                         sharding::StoreBackendName);

class GrpcStoreTest : public ::testing::Test {
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

TEST_F(GrpcStoreTest, EmptyKeyIsInvalidArgument) {
  EXPECT_EQ(store_->Set("", "v").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(GrpcStoreTest, JobStoreScopesGenerations) {
  auto gen0 = *sharding::JobStore(store_, "job", 0);
  auto gen1 = *sharding::JobStore(store_, "job", 1);
  ASSERT_TRUE(gen0->Set("nccl_id", "old").ok());
  EXPECT_FALSE(*gen1->Check({"nccl_id"}));
  EXPECT_EQ(*store_->Get("zt/job/gen0/nccl_id", Soon()), "old");
}

}  // namespace
}  // namespace zt::coordinator
