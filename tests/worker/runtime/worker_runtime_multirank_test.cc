// The worker runtime in 4 real rank processes against a coordinator in the test process:
// register (rendezvous), exchange keys through the job-scoped store, barrier, finish; and a
// failing rank making every rank abort through the WatchJob stream.
#include "worker/runtime/worker_runtime.h"

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coordinator/protocol.h"
#include "tests/coordinator/coordinator_harness.h"
#include "tests/support/rank_processes.h"

namespace zt::worker {
namespace {

namespace zc = ::zt::coordinator;
using ::testing::HasSubstr;

constexpr int kWorld = 4;

std::unique_ptr<WorkerRuntime> StartRank(int rank) {
  absl::StatusOr<WorkerRuntimeOptions> options = WorkerRuntimeOptions::FromEnv();
  EXPECT_TRUE(options.ok()) << options.status();
  options->device = rank;
  options->host = "localhost";
  options->register_timeout = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<WorkerRuntime>> runtime = WorkerRuntime::Start(*options);
  EXPECT_TRUE(runtime.ok()) << runtime.status();
  return runtime.ok() ? std::move(*runtime) : nullptr;
}

std::unique_ptr<zc::testing::Harness> StartCoordinator() {
  zc::JobOptions job;
  job.job_id = "multirank";
  job.world_size = kWorld;
  job.heartbeat_interval = absl::Milliseconds(100);
  job.heartbeat_timeout = absl::Seconds(2);
  return zc::testing::Harness::Start(job);
}

std::vector<std::string> RankEnv(const zc::testing::Harness& harness) {
  return {absl::StrCat(zc::kEnvCoordinator, "=", harness.server->address()),
          absl::StrCat(zc::kEnvToken, "=", harness.token)};
}

TEST(WorkerRuntimeMultirankTest, RegisterExchangeKeysBarrierFinish) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::unique_ptr<WorkerRuntime> runtime = StartRank(*rank);
    ASSERT_NE(runtime, nullptr);
    EXPECT_EQ(runtime->rank(), *rank);  // node-major by device on one host
    EXPECT_EQ(runtime->world_size(), kWorld);
    EXPECT_EQ(runtime->assignment().master_addr(), "127.0.0.1");
    ASSERT_TRUE(runtime->store()->Set(absl::StrCat("addr/", *rank), absl::StrCat("rank", *rank)).ok());
    for (int peer = 0; peer < kWorld; ++peer) {
      absl::StatusOr<std::string> value =
          runtime->store()->Get(absl::StrCat("addr/", peer), absl::Now() + absl::Seconds(20));
      ASSERT_TRUE(value.ok()) << value.status();
      EXPECT_EQ(*value, absl::StrCat("rank", peer));
    }
    ASSERT_TRUE(runtime->Barrier("done", absl::Now() + absl::Seconds(20)).ok());
    ASSERT_TRUE(runtime->ReportFinished().ok());
    return;
  }
  auto harness = StartCoordinator();
  zt::testing::ExpectRanksSucceed(zt::testing::RunRanks(kWorld, absl::Seconds(60), RankEnv(*harness)));
  EXPECT_EQ(harness->server->service().phase(), zc::JobPhase::kSucceeded);
  // The keys were scoped to the job and its generation.
  auto client = harness->NewClient();
  EXPECT_TRUE(*client->Check({"zt/multirank/gen0/addr/3"}));
}

TEST(WorkerRuntimeMultirankTest, OneFailingRankAbortsEveryRank) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::unique_ptr<WorkerRuntime> runtime = StartRank(*rank);
    ASSERT_NE(runtime, nullptr);
    if (runtime->rank() == 3) {
      runtime->ReportFailure(absl::DataLossError("corrupt shard 7"));
    }
    absl::SleepFor(absl::Seconds(20));  // the abort ends this process long before
    ADD_FAILURE() << "rank " << *rank << " was not aborted";
    return;
  }
  auto harness = StartCoordinator();
  absl::StatusOr<std::vector<zt::testing::RankResult>> results =
      zt::testing::RunRanks(kWorld, absl::Seconds(60), RankEnv(*harness));
  ASSERT_TRUE(results.ok()) << results.status();
  for (const zt::testing::RankResult& result : *results) {
    EXPECT_EQ(result.exit_code, zc::kExitAborted) << result.output;
    // The reason, not the message again: the failure report carries it once.
    EXPECT_THAT(result.output,
                HasSubstr("aborting: rank 3 on localhost failed (reported an error)"));
  }
  EXPECT_EQ(harness->server->service().phase(), zc::JobPhase::kFailed);
  EXPECT_THAT(harness->server->service().FailureReport(), HasSubstr("rank      : 3"));
  EXPECT_THAT(harness->server->service().FailureReport(),
              HasSubstr("message   : [rank 3] DATA_LOSS: corrupt shard 7"));
}

}  // namespace
}  // namespace zt::worker
