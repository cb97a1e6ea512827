// FileStore across real processes: the rendezvous pattern every backend uses (rank 0
// publishes, the others wait), a counter barrier, and a rank that never arrives.
#include "sharding/collectives/file_store.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sharding/collectives/prefix_store.h"
#include "tests/support/rank_processes.h"
#include "tests/support/temp_dir.h"

namespace zt::sharding {
namespace {

std::string StoreDirFromEnv() {
  const char* dir = std::getenv("ZT_TEST_STORE_DIR");
  return dir == nullptr ? "" : dir;
}

TEST(FileStoreMultiRankTest, RendezvousAndCounterBarrier) {
  if (std::optional<int> rank = testing::ChildRank()) {
    const int world = testing::ChildWorldSize();
    std::shared_ptr<Store> base = *FileStore::Open(StoreDirFromEnv());
    std::unique_ptr<PrefixStore> store = *JobStore(base, "job", 0);
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    if (*rank == 0) ASSERT_TRUE(store->Set("unique_id", "id-from-rank-0").ok());
    absl::StatusOr<std::string> id = store->Get("unique_id", deadline);
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(*id, "id-from-rank-0");
    ASSERT_TRUE(store->Set(absl::StrCat("address/", *rank), absl::StrCat("host-", *rank)).ok());
    // Barrier: count arrivals, then wait for the last one's marker.
    absl::StatusOr<int64_t> arrived = store->Add("arrived", 1);
    ASSERT_TRUE(arrived.ok()) << arrived.status();
    if (*arrived == world) ASSERT_TRUE(store->Set("all_arrived", "1").ok());
    ASSERT_TRUE(store->Wait({"all_arrived"}, deadline).ok());
    for (int peer = 0; peer < world; ++peer) {
      EXPECT_EQ(*store->Get(absl::StrCat("address/", peer), deadline), absl::StrCat("host-", peer));
    }
    return;
  }
  testing::TempDir dir;
  testing::ExpectRanksSucceed(
      testing::RunRanks(4, absl::Seconds(60), {"ZT_TEST_STORE_DIR=" + dir.Join("store")}));
}

TEST(FileStoreMultiRankTest, AMissingRankEndsInDeadlineExceededNotAHang) {
  if (std::optional<int> rank = testing::ChildRank()) {
    std::shared_ptr<Store> store = *FileStore::Open(StoreDirFromEnv());
    ASSERT_TRUE(store->Add("arrived", 1).ok());
    // Rank 2 of 3 never arrives: the others wait for it and must give up at the deadline.
    const absl::Time start = absl::Now();
    absl::Status status = store->Wait({"ready/0", "ready/1", "ready/2"}, start + absl::Milliseconds(300));
    ASSERT_TRUE(store->Set(absl::StrCat("ready/", *rank), "1").ok());
    EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_NE(status.message().find("'ready/2'"), std::string::npos) << status;
    EXPECT_LT(absl::Now() - start, absl::Seconds(10));
    return;
  }
  testing::TempDir dir;
  testing::ExpectRanksSucceed(
      testing::RunRanks(2, absl::Seconds(60), {"ZT_TEST_STORE_DIR=" + dir.Join("store")}));
}

}  // namespace
}  // namespace zt::sharding
