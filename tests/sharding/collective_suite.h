// The one collective test suite every Communicator backend passes (Gloo, MPI, host-staged,
// NCCL at world size 1). Each function runs on every rank of an already-built communicator,
// with gtest expectations: every op, dtypes fp32/fp64/bf16, uneven sizes (0, 1, 7, 1000003
// elements), results compared exactly against references computed on each rank from every
// rank's known input (inputs are small integers, so every summation order is exact).
//
// `device` is where the tensors live (CPU for Gloo/MPI, CUDA for NCCL/host-staged).
#pragma once

#include <ATen/core/Tensor.h>

#include "sharding/collectives/communicator.h"

namespace zt::sharding::testing {

void ExpectAllReduceMatches(Communicator& comm, const at::Device& device);
void ExpectReduceScatterMatches(Communicator& comm, const at::Device& device);
void ExpectAllGatherMatches(Communicator& comm, const at::Device& device);
void ExpectBroadcastMatches(Communicator& comm, const at::Device& device);
// Barrier waits for the slowest rank (rank 0 arrives late on purpose).
void ExpectBarrierWaitsForEveryRank(Communicator& comm);
// Several ops queued before any Wait() complete in order with the right results.
void ExpectQueuedOpsCompleteInOrder(Communicator& comm, const at::Device& device);
// Misuse is InvalidArgument naming the op; after Abort() ops fail with Aborted + the reason.
void ExpectArgumentErrors(Communicator& comm, const at::Device& device);
void ExpectAbortFailsLaterOps(Communicator& comm, const at::Device& device);

// All of the above except abort, in one call.
void RunCollectiveSuite(Communicator& comm, const at::Device& device);

}  // namespace zt::sharding::testing
