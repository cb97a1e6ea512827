#include "tests/sharding/collective_suite.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "absl/time/clock.h"

namespace zt::sharding::testing {
namespace {

constexpr int64_t kSizes[] = {0, 1, 7, 1000003};
constexpr int64_t kChunks[] = {0, 1, 7, 250001};  // per rank (reduce_scatter, all_gather)
const at::ScalarType kDtypes[] = {at::kFloat, at::kDouble, at::kBFloat16};
const ReduceOp kOps[] = {ReduceOp::kSum, ReduceOp::kAvg, ReduceOp::kMax, ReduceOp::kMin};

absl::Time SuiteDeadline() { return absl::Now() + absl::Seconds(60); }

// Rank r's input: integers in [-4, 4] that differ by rank and position, in float64.
at::Tensor RankValues(int rank, int64_t numel, int64_t salt = 0) {
  at::Tensor index = at::arange(numel, at::kLong);
  return ((index * 7 + rank * 3 + salt).remainder(9) - 4).to(at::kDouble);
}

at::Tensor ReduceReference(int world, int64_t numel, ReduceOp op, int64_t salt = 0) {
  at::Tensor result = RankValues(0, numel, salt);
  for (int rank = 1; rank < world; ++rank) {
    at::Tensor next = RankValues(rank, numel, salt);
    switch (op) {
      case ReduceOp::kSum:
      case ReduceOp::kAvg:
        result = result + next;
        break;
      case ReduceOp::kMax:
        result = at::maximum(result, next);
        break;
      case ReduceOp::kMin:
        result = at::minimum(result, next);
        break;
    }
  }
  return op == ReduceOp::kAvg ? result / world : result;
}

void ExpectOk(absl::StatusOr<std::unique_ptr<Work>> work, const std::string& what) {
  ASSERT_TRUE(work.ok()) << what << ": " << work.status();
  absl::Status status = (*work)->Wait(SuiteDeadline());
  ASSERT_TRUE(status.ok()) << what << ": " << status;
  EXPECT_TRUE((*work)->IsCompleted()) << what;
}

// Exact comparison in float64 on the CPU, reporting the first mismatch.
void ExpectEqualValues(const at::Tensor& actual, const at::Tensor& expected,
                       const std::string& what) {
  at::Tensor a = actual.to(at::kCPU).to(at::kDouble);
  at::Tensor e = expected.to(at::kDouble);
  ASSERT_EQ(a.numel(), e.numel()) << what;
  at::Tensor wrong = a.ne(e).nonzero();
  if (wrong.numel() > 0) {
    const int64_t i = wrong[0][0].item<int64_t>();
    FAIL() << what << ": " << wrong.size(0) << " wrong elements, first at " << i << ": got "
           << a[i].item<double>() << ", expected " << e[i].item<double>();
  }
}

std::string Label(const char* op, at::ScalarType dtype, int64_t numel, const char* extra = "") {
  return std::string(op) + " " + c10::toString(dtype) + "[" + std::to_string(numel) + "] " + extra;
}

}  // namespace

void ExpectAllReduceMatches(Communicator& comm, const at::Device& device) {
  for (at::ScalarType dtype : kDtypes) {
    for (int64_t numel : kSizes) {
      for (ReduceOp op : kOps) {
        at::Tensor tensor = RankValues(comm.Rank(), numel).to(device, dtype);
        const std::string what = Label("all_reduce", dtype, numel, ReduceOpName(op));
        ExpectOk(comm.AllReduce(tensor, op), what);
        ExpectEqualValues(tensor, ReduceReference(comm.Size(), numel, op), what);
      }
    }
  }
}

void ExpectReduceScatterMatches(Communicator& comm, const at::Device& device) {
  const int world = comm.Size();
  for (at::ScalarType dtype : kDtypes) {
    for (int64_t chunk : kChunks) {
      for (ReduceOp op : kOps) {
        at::Tensor input = RankValues(comm.Rank(), chunk * world).to(device, dtype);
        at::Tensor original = input.clone();
        at::Tensor output = at::full({chunk}, 99, input.options());
        const std::string what = Label("reduce_scatter", dtype, chunk * world, ReduceOpName(op));
        ExpectOk(comm.ReduceScatter(input, output, op), what);
        at::Tensor expected =
            ReduceReference(world, chunk * world, op).narrow(0, comm.Rank() * chunk, chunk);
        ExpectEqualValues(output, expected, what);
        ExpectEqualValues(input, original.to(at::kCPU), what + " (input must be unchanged)");
      }
    }
  }
}

void ExpectAllGatherMatches(Communicator& comm, const at::Device& device) {
  const int world = comm.Size();
  for (at::ScalarType dtype : kDtypes) {
    for (int64_t chunk : kChunks) {
      at::Tensor input = RankValues(comm.Rank(), chunk).to(device, dtype);
      at::Tensor output = at::full({chunk * world}, 99, input.options());
      const std::string what = Label("all_gather", dtype, chunk);
      ExpectOk(comm.AllGather(input, output), what);
      std::vector<at::Tensor> parts;
      for (int rank = 0; rank < world; ++rank) parts.push_back(RankValues(rank, chunk));
      ExpectEqualValues(output, at::cat(parts), what);
    }
  }
}

void ExpectBroadcastMatches(Communicator& comm, const at::Device& device) {
  for (at::ScalarType dtype : kDtypes) {
    for (int64_t numel : kSizes) {
      for (int root = 0; root < comm.Size(); ++root) {
        at::Tensor tensor = RankValues(comm.Rank(), numel, /*salt=*/root).to(device, dtype);
        const std::string what =
            Label("broadcast", dtype, numel, ("from " + std::to_string(root)).c_str());
        ExpectOk(comm.Broadcast(tensor, root), what);
        ExpectEqualValues(tensor, RankValues(root, numel, root), what);
      }
    }
  }
}

void ExpectBarrierWaitsForEveryRank(Communicator& comm) {
  const absl::Duration late = absl::Milliseconds(400);
  ExpectOk(comm.Barrier(), "barrier (align)");
  const absl::Time start = absl::Now();
  if (comm.Rank() == 0) absl::SleepFor(late);
  ExpectOk(comm.Barrier(), "barrier");
  EXPECT_GE(absl::Now() - start, late - absl::Milliseconds(50))
      << "rank " << comm.Rank() << " left the barrier before rank 0 arrived";
}

void ExpectQueuedOpsCompleteInOrder(Communicator& comm, const at::Device& device) {
  const int world = comm.Size();
  std::vector<at::Tensor> tensors;
  std::vector<std::unique_ptr<Work>> works;
  for (int i = 0; i < 6; ++i) {
    tensors.push_back(RankValues(comm.Rank(), 1000 + i, i).to(device, at::kFloat));
    absl::StatusOr<std::unique_ptr<Work>> work = comm.AllReduce(tensors.back(), ReduceOp::kSum);
    ASSERT_TRUE(work.ok()) << work.status();
    works.push_back(std::move(*work));
  }
  at::Tensor gathered = at::zeros({world * 5}, at::TensorOptions(device).dtype(at::kDouble));
  at::Tensor mine = RankValues(comm.Rank(), 5).to(device);
  absl::StatusOr<std::unique_ptr<Work>> gather = comm.AllGather(mine, gathered);
  ASSERT_TRUE(gather.ok()) << gather.status();
  // Waiting on the last op first: the queue runs them in order regardless.
  ASSERT_TRUE((*gather)->Wait(SuiteDeadline()).ok());
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(works[i]->Wait(SuiteDeadline()).ok()) << "queued all_reduce " << i;
    ExpectEqualValues(tensors[i], ReduceReference(world, 1000 + i, ReduceOp::kSum, i),
                      "queued all_reduce " + std::to_string(i));
  }
}

void ExpectArgumentErrors(Communicator& comm, const at::Device& device) {
  const int world = comm.Size();
  at::Tensor input = at::zeros({world * 4 + 1}, at::TensorOptions(device).dtype(at::kFloat));
  at::Tensor output = at::zeros({4}, input.options());
  absl::StatusOr<std::unique_ptr<Work>> bad = comm.ReduceScatter(input, output, ReduceOp::kSum);
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("reduce_scatter"), std::string::npos) << bad.status();
  at::Tensor strided = at::zeros({8, 2}, input.options()).t();
  bad = comm.AllReduce(strided, ReduceOp::kSum);
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("contiguous"), std::string::npos) << bad.status();
  bad = comm.Broadcast(output, world);
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("root"), std::string::npos) << bad.status();
  bad = comm.AllReduce(at::zeros({4}, at::TensorOptions(device).dtype(at::kBool)), ReduceOp::kSum);
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("Bool"), std::string::npos) << bad.status();
}

void ExpectAbortFailsLaterOps(Communicator& comm, const at::Device& device) {
  comm.Abort(absl::UnavailableError("rank 3 missed its heartbeat"));
  comm.Abort(absl::InternalError("a second reason is ignored"));
  at::Tensor tensor = at::ones({16}, at::TensorOptions(device).dtype(at::kFloat));
  absl::StatusOr<std::unique_ptr<Work>> work = comm.AllReduce(tensor, ReduceOp::kSum);
  absl::Status status = work.ok() ? (*work)->Wait(absl::Now() + absl::Seconds(5)) : work.status();
  ASSERT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_NE(status.message().find("missed its heartbeat"), std::string::npos) << status;
  EXPECT_EQ(status.message().find("second reason"), std::string::npos) << status;
}

void RunCollectiveSuite(Communicator& comm, const at::Device& device) {
  ExpectAllReduceMatches(comm, device);
  ExpectReduceScatterMatches(comm, device);
  ExpectAllGatherMatches(comm, device);
  ExpectBroadcastMatches(comm, device);
  ExpectBarrierWaitsForEveryRank(comm);
  ExpectQueuedOpsCompleteInOrder(comm, device);
  ExpectArgumentErrors(comm, device);
}

}  // namespace zt::sharding::testing
