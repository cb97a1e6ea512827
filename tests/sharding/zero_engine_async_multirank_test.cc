// The asynchronous offload step across two Gloo ranks: bitwise the synchronous step at stages 1
// and 2 (each bucket's all-gather issued from the worker thread), completion counters in
// forward order (zero_async_offload_check.h).
#include <gtest/gtest.h>

#include <memory>

#include "absl/time/clock.h"
#include "tests/sharding/gloo_test_ranks.h"
#include "tests/sharding/zero_async_offload_check.h"
#include "tests/support/rank_processes.h"

namespace zt::sharding {
namespace {

TEST(ZeroEngineAsyncMultirankTest, AsyncOffloadStepIsBitwiseTheSyncStepAtWorldSizeTwo) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::shared_ptr<Communicator> comm = testing::ConnectGlooRank(*rank, "zero-async-test");
    ASSERT_NE(comm, nullptr);
    for (int stage : {1, 2}) testing::ExpectAsyncOffloadStepMatchesSync(comm, stage);
    return;
  }
  testing::RunGlooRanks(2, absl::Seconds(300));
}

}  // namespace
}  // namespace zt::sharding
