// Multi-rank tests with real processes: the test binary re-executes itself once per rank,
// running only the current test, with ZT_TEST_RANK / ZT_TEST_WORLD_SIZE set. Each rank gets its
// own process group, one BLAS/OpenMP thread, and a deadline after which every rank still alive
// is killed (the test then fails; it never hangs).
//
//   TEST(Suite, Name) {
//     if (std::optional<int> rank = zt::testing::ChildRank()) {
//       ... this rank's work, with gtest assertions ...
//       return;
//     }
//     zt::testing::ExpectRanksSucceed(zt::testing::RunRanks(4, absl::Seconds(60)));
//   }
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace zt::testing {

// This process's rank when it was started by RunRanks(), nullopt in the parent.
std::optional<int> ChildRank();
// The world size given to RunRanks() (0 in the parent).
int ChildWorldSize();

struct RankResult {
  int rank = 0;
  int exit_code = -1;   // when it exited
  int signal = 0;       // when it was killed (SIGKILL after the deadline)
  bool timed_out = false;
  std::string output;   // stdout and stderr, interleaved
};

// Starts `world_size` copies of the running test and waits for all of them, at most `timeout`.
// `extra_env` entries are "NAME=value". Fails only when processes cannot be started.
absl::StatusOr<std::vector<RankResult>> RunRanks(int world_size, absl::Duration timeout,
                                                 const std::vector<std::string>& extra_env = {});

// gtest expectations: every rank exited 0; otherwise prints each failing rank's output.
void ExpectRanksSucceed(const absl::StatusOr<std::vector<RankResult>>& results);

}  // namespace zt::testing
