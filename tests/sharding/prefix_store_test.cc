#include "sharding/collectives/prefix_store.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "sharding/collectives/in_memory_store.h"

namespace zt::sharding {
namespace {

TEST(PrefixStoreTest, KeysLandUnderThePrefix) {
  auto base = std::make_shared<InMemoryStore>();
  PrefixStore scoped(base, "zt/job1/gen0");
  ASSERT_TRUE(scoped.Set("nccl_id", "abc").ok());
  EXPECT_EQ(*base->Get("zt/job1/gen0/nccl_id", absl::Now() + absl::Seconds(1)), "abc");
  EXPECT_EQ(*scoped.Add("arrived", 2), 2);
  EXPECT_TRUE(*base->Check({"zt/job1/gen0/arrived"}));
  EXPECT_TRUE(*scoped.Check({"nccl_id", "arrived"}));
  EXPECT_TRUE(*scoped.Delete("nccl_id"));
  EXPECT_FALSE(*base->Check({"zt/job1/gen0/nccl_id"}));
}

TEST(PrefixStoreTest, ARestartedGenerationNeverSeesTheOldId) {
  auto base = std::make_shared<InMemoryStore>();
  std::unique_ptr<PrefixStore> generation0 = *JobStore(base, "job1", 0);
  std::unique_ptr<PrefixStore> generation1 = *JobStore(base, "job1", 1);
  ASSERT_TRUE(generation0->Set("nccl_id", "old").ok());
  absl::StatusOr<std::string> id = generation1->Get("nccl_id", absl::Now() + absl::Milliseconds(30));
  EXPECT_EQ(id.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(id.status().message().find("zt/job1/gen1/nccl_id"), std::string::npos);
  std::unique_ptr<PrefixStore> other_job = *JobStore(base, "job2", 0);
  EXPECT_FALSE(*other_job->Check({"nccl_id"}));
}

TEST(PrefixStoreTest, JobScopeRejectsBadIdsAndGenerations) {
  EXPECT_EQ(*JobScopePrefix("run-7", 3), "zt/run-7/gen3");
  EXPECT_EQ(JobScopePrefix("", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JobScopePrefix("a/b", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JobScopePrefix("job", -1).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace zt::sharding
