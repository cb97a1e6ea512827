#include "tests/sharding/gloo_test_ranks.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "sharding/collectives/file_store.h"
#include "sharding/collectives/gloo_communicator.h"
#include "sharding/collectives/prefix_store.h"
#include "tests/support/rank_processes.h"
#include "tests/support/temp_dir.h"

namespace zt::sharding::testing {

std::shared_ptr<Communicator> ConnectGlooRank(int rank, const std::string& job) {
  const char* dir = std::getenv("ZT_TEST_STORE_DIR");
  std::shared_ptr<Store> base = *FileStore::Open(dir == nullptr ? "" : dir);
  std::shared_ptr<Store> store(*JobStore(base, job, 0));
  GlooOptions options;
  options.hostname = "127.0.0.1";
  absl::StatusOr<std::unique_ptr<GlooCommunicator>> comm = GlooCommunicator::Create(
      store, rank, zt::testing::ChildWorldSize(), absl::Now() + absl::Seconds(60), options);
  EXPECT_TRUE(comm.ok()) << comm.status();
  if (!comm.ok()) return nullptr;
  return std::shared_ptr<Communicator>(std::move(*comm));
}

void RunGlooRanks(int world, absl::Duration timeout) {
  zt::testing::TempDir dir;
  zt::testing::ExpectRanksSucceed(
      zt::testing::RunRanks(world, timeout, {"ZT_TEST_STORE_DIR=" + dir.Join("store")}));
}

}  // namespace zt::sharding::testing
