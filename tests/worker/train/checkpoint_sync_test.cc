// RankSync over one Store shared by threads standing in for ranks: all-gathers by rank, repeated
// calls never see earlier values, and one rank's error reaches every rank (code kept, "rank <r>:"
// prefixed) so no rank goes on into a collective alone; a missing rank times out naming its key.
#include "worker/train/checkpoint_sync.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "sharding/collectives/in_memory_store.h"

namespace zt::worker::train {
namespace {

TEST(CheckpointSyncTest, GathersByRankAndAgreesOnTheFirstError) {
  auto store = std::make_shared<sharding::InMemoryStore>();
  constexpr int kWorld = 3;
  std::vector<std::vector<std::string>> gathered(kWorld), again(kWorld);
  std::vector<absl::Status> ok(kWorld), failed(kWorld);
  std::vector<std::thread> ranks;
  for (int r = 0; r < kWorld; ++r) {
    ranks.emplace_back([&, r] {
      RankSync sync(store, r, kWorld, absl::Seconds(10));
      gathered[r] = *sync.AllGather("names", absl::StrCat("value-", r));
      again[r] = *sync.AllGather("names", absl::StrCat("second-", r));
      ok[r] = sync.AllOk("fine", absl::OkStatus());
      failed[r] = sync.AllOk("written", r == 0 ? absl::OkStatus()
                                    : absl::DataLossError(absl::StrCat("disk of rank ", r)));
    });
  }
  for (std::thread& t : ranks) t.join();
  for (int r = 0; r < kWorld; ++r) {
    EXPECT_EQ(gathered[r], (std::vector<std::string>{"value-0", "value-1", "value-2"}));
    EXPECT_EQ(again[r], (std::vector<std::string>{"second-0", "second-1", "second-2"}));
    EXPECT_TRUE(ok[r].ok()) << ok[r];
    EXPECT_EQ(failed[r].code(), absl::StatusCode::kDataLoss);
  }
  // Rank 1 is the lowest failing rank: its own error bare, the others' prefixed.
  EXPECT_EQ(failed[0].message(), "rank 1: disk of rank 1");
  EXPECT_EQ(failed[1].message(), "disk of rank 1");
  EXPECT_EQ(failed[2].message(), "rank 1: disk of rank 1");
}

TEST(CheckpointSyncTest, AMissingRankTimesOutNamingItsKey) {
  RankSync sync(std::make_shared<sharding::InMemoryStore>(), 0, 2, absl::Milliseconds(50));
  absl::StatusOr<std::vector<std::string>> result = sync.AllGather("save_written", "x");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(result.status().message().find("checkpoint/0/save_written/1"), std::string::npos)
      << result.status();
}

TEST(CheckpointSyncTest, StatusesRoundTrip) {
  EXPECT_EQ(EncodeStatus(absl::OkStatus()), "");
  EXPECT_TRUE(DecodeStatus("").ok());
  const absl::Status s = absl::FailedPreconditionError("a: b");
  EXPECT_EQ(DecodeStatus(EncodeStatus(s)), s);
  EXPECT_EQ(DecodeStatus("garbage").code(), absl::StatusCode::kUnknown);
}

}  // namespace
}  // namespace zt::worker::train
