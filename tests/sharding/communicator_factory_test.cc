#include "sharding/collectives/communicator_factory.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "sharding/collectives/file_store.h"
#include "sharding/collectives/in_memory_store.h"
#include "sharding/collectives/prefix_store.h"
#include "tests/support/rank_processes.h"
#include "tests/support/temp_dir.h"

namespace zt::sharding {
namespace {

absl::Time FactoryDeadline() { return absl::Now() + absl::Seconds(30); }

TEST(CommunicatorFactoryTest, AutoAtWorldSize1IsSelf) {
  absl::StatusOr<std::unique_ptr<Communicator>> comm =
      CreateCommunicator(CommunicatorSpec{}, FactoryDeadline());
  ASSERT_TRUE(comm.ok()) << comm.status();
  EXPECT_EQ((*comm)->BackendName(), "self");
}

TEST(CommunicatorFactoryTest, AnUnknownBackendNamesTheAvailableOnes) {
  CommunicatorSpec spec;
  spec.backend = "ucc";
  absl::Status status = CreateCommunicator(spec, FactoryDeadline()).status();
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("'ucc'"), std::string::npos) << status;
  EXPECT_NE(status.message().find(AvailableBackends()), std::string::npos) << status;
}

TEST(CommunicatorFactoryTest, InconsistentSpecsAreInvalidArgument) {
  CommunicatorSpec spec;
  spec.backend = "gloo";
  spec.world_size = 2;
  spec.rank = 2;
  EXPECT_EQ(CreateCommunicator(spec, FactoryDeadline()).status().code(),
            absl::StatusCode::kInvalidArgument);
  spec.rank = 1;  // no store
  absl::Status status = CreateCommunicator(spec, FactoryDeadline()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("store"), std::string::npos) << status;
  spec.backend = "nccl";
  spec.store = std::make_shared<InMemoryStore>();
  status = CreateCommunicator(spec, FactoryDeadline()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("device"), std::string::npos) << status;
  spec.backend = "self";
  EXPECT_EQ(CreateCommunicator(spec, FactoryDeadline()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CommunicatorFactoryTest, MpiOutsideAnMpiJobIsFailedPrecondition) {
  CommunicatorSpec spec;
  spec.backend = "mpi";
  absl::Status status = CreateCommunicator(spec, FactoryDeadline()).status();
  const bool built = AvailableBackends().find("mpi") != std::string::npos;
  EXPECT_EQ(status.code(),
            built ? absl::StatusCode::kFailedPrecondition : absl::StatusCode::kUnimplemented)
      << status;
}

TEST(CommunicatorFactoryTest, AutoOnTheCpuAtWorldSize2IsGloo) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::shared_ptr<Store> base = *FileStore::Open(std::getenv("ZT_TEST_STORE_DIR"));
    CommunicatorSpec spec;
    spec.rank = *rank;
    spec.world_size = 2;
    spec.store = std::shared_ptr<Store>(*JobStore(base, "factory-test", 0));
    spec.hostname = "127.0.0.1";
    absl::StatusOr<std::unique_ptr<Communicator>> comm =
        CreateCommunicator(spec, FactoryDeadline());
    ASSERT_TRUE(comm.ok()) << comm.status();
    EXPECT_EQ((*comm)->BackendName(), "gloo");
    at::Tensor tensor = at::full({3}, *rank + 1.0, at::kFloat);
    ASSERT_TRUE((*comm)->AllReduce(tensor, ReduceOp::kSum).value()->Wait(FactoryDeadline()).ok());
    EXPECT_TRUE(at::equal(tensor, at::full({3}, 3.0, at::kFloat)));
    return;
  }
  zt::testing::TempDir dir;
  zt::testing::ExpectRanksSucceed(
      zt::testing::RunRanks(2, absl::Seconds(60), {"ZT_TEST_STORE_DIR=" + dir.Join("store")}));
}

}  // namespace
}  // namespace zt::sharding
