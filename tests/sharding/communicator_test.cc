#include "sharding/collectives/communicator.h"

#include <ATen/ATen.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "sharding/collectives/self_communicator.h"

namespace zt::sharding {
namespace {

using ::testing::HasSubstr;

absl::Time Soon() { return absl::Now() + absl::Seconds(5); }

TEST(CollectiveShapeChecksTest, ReduceScatterNeedsWorldTimesOutput) {
  at::Tensor input = at::zeros({10});
  EXPECT_TRUE(CheckReduceScatterShapes(input, at::zeros({5}), 2).ok());
  absl::Status status = CheckReduceScatterShapes(input, at::zeros({4}), 2);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("input has 10 elements, expected world size 2 x output's 4 = 8"));
  EXPECT_EQ(CheckReduceScatterShapes(input, at::zeros({5}, at::kDouble), 2).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CollectiveShapeChecksTest, AllGatherNeedsWorldTimesInput) {
  EXPECT_TRUE(CheckAllGatherShapes(at::zeros({3}), at::zeros({12}), 4).ok());
  absl::Status status = CheckAllGatherShapes(at::zeros({3}), at::zeros({11}), 4);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("output has 11 elements, expected world size 4 x input's 3 = 12"));
}

TEST(CollectiveShapeChecksTest, NonContiguousAndUndefinedTensorsAreRejected) {
  at::Tensor strided = at::zeros({4, 4}).t();
  absl::Status status = CheckCollectiveTensor("all_reduce", "tensor", strided);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("must be contiguous"));
  EXPECT_THAT(std::string(CheckCollectiveTensor("broadcast", "tensor", at::Tensor()).message()),
              HasSubstr("undefined"));
  EXPECT_EQ(CheckRoot("broadcast", 2, 2).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SelfCommunicatorTest, CollectivesOfOneRank) {
  SelfCommunicator comm;
  EXPECT_EQ(comm.Rank(), 0);
  EXPECT_EQ(comm.Size(), 1);
  at::Tensor values = at::arange(6, at::kFloat);
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg, ReduceOp::kMax, ReduceOp::kMin}) {
    auto work = comm.AllReduce(values, op);
    ASSERT_TRUE(work.ok());
    EXPECT_TRUE((*work)->Wait(Soon()).ok());
    EXPECT_TRUE(values.equal(at::arange(6, at::kFloat))) << ReduceOpName(op);
  }
  at::Tensor output = at::empty({6});
  ASSERT_TRUE((*comm.ReduceScatter(values, output, ReduceOp::kSum))->Wait(Soon()).ok());
  EXPECT_TRUE(output.equal(values));
  at::Tensor gathered = at::empty({6});
  ASSERT_TRUE((*comm.AllGather(values, gathered))->Wait(Soon()).ok());
  EXPECT_TRUE(gathered.equal(values));
  EXPECT_TRUE((*comm.Broadcast(values, 0))->IsCompleted());
  EXPECT_EQ(comm.Broadcast(values, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*comm.Barrier())->Wait(Soon()).ok());
}

TEST(SelfCommunicatorTest, AbortFailsEveryLaterCallWithTheFirstReason) {
  SelfCommunicator comm;
  comm.Abort(absl::DeadlineExceededError("watchdog: all_reduce exceeded 30 s"));
  comm.Abort(absl::InternalError("second reason is ignored"));
  absl::StatusOr<std::unique_ptr<Work>> work = comm.AllReduce(at::zeros({2}), ReduceOp::kSum);
  EXPECT_EQ(work.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(work.status().message()), HasSubstr("watchdog: all_reduce exceeded 30 s"));
  EXPECT_EQ(comm.Barrier().status().code(), absl::StatusCode::kAborted);
}

}  // namespace
}  // namespace zt::sharding
