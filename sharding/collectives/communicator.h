// The collective interface the ZeRO engines are written against. Backends: NCCL (CUDA
// tensors), Gloo (CPU tensors), MPI, host-staged (CUDA tensors through pinned host + Gloo), and
// SelfCommunicator (world size 1).
//
// Contract:
//  - collectives are called in the same order with matching shapes on every rank;
//  - every call is asynchronous: it validates its arguments, enqueues the operation and
//    returns a Work handle; tensors must not be touched until Work::Wait() returned OK;
//  - Wait() takes an absolute deadline; a peer that never arrives yields DeadlineExceeded
//    (then the caller aborts), never a hang;
//  - Abort() may be called from any thread (a watchdog); pending and later operations fail
//    with Aborted carrying the reason. A communicator is not reusable after Abort().
//  - argument errors are InvalidArgument naming the operation, the tensor and the mismatch.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace zt::sharding {

enum class ReduceOp { kSum, kAvg, kMax, kMin };

const char* ReduceOpName(ReduceOp op);

// One enqueued collective.
class Work {
 public:
  virtual ~Work() = default;
  // Blocks until the operation finished, failed, was aborted, or `deadline` passed.
  virtual absl::Status Wait(absl::Time deadline) = 0;
  // Non-blocking completion test (true also when it failed; Wait() then says how).
  virtual bool IsCompleted() = 0;
  // Where the result is consumed on a device stream: orders the caller's current stream after
  // the operation without blocking the host (NCCL: the op's event; its watchdog enforces the
  // deadline). Backends without streams wait on the host, as Wait().
  virtual absl::Status WaitOnStream(absl::Time deadline) { return Wait(deadline); }
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int Rank() const = 0;
  virtual int Size() const = 0;
  // "nccl", "gloo", "mpi", "host-staged", "self".
  virtual std::string BackendName() const = 0;

  // In place on `tensor` (contiguous), on every rank.
  virtual absl::StatusOr<std::unique_ptr<Work>> AllReduce(at::Tensor tensor, ReduceOp op) = 0;

  // `input` holds Size() equal chunks of output.numel() elements; rank r receives the
  // reduction of every rank's chunk r in `output`.
  virtual absl::StatusOr<std::unique_ptr<Work>> ReduceScatter(at::Tensor input, at::Tensor output,
                                                              ReduceOp op) = 0;

  // `output` holds Size() chunks of input.numel() elements; chunk r is rank r's `input`.
  virtual absl::StatusOr<std::unique_ptr<Work>> AllGather(at::Tensor input, at::Tensor output) = 0;

  // `tensor` on every rank becomes `root`'s.
  virtual absl::StatusOr<std::unique_ptr<Work>> Broadcast(at::Tensor tensor, int root) = 0;

  virtual absl::StatusOr<std::unique_ptr<Work>> Barrier() = 0;

  // Thread-safe; idempotent (the first reason is kept).
  virtual void Abort(absl::Status reason) = 0;
};

// Shared argument checks, so every backend rejects the same misuse with the same message.
absl::Status CheckCollectiveTensor(const char* op, const char* name, const at::Tensor& tensor);
absl::Status CheckReduceScatterShapes(const at::Tensor& input, const at::Tensor& output, int world_size);
absl::Status CheckAllGatherShapes(const at::Tensor& input, const at::Tensor& output, int world_size);
absl::Status CheckRoot(const char* op, int root, int world_size);

// An already-finished Work carrying `status` (synchronous backends and argument errors).
std::unique_ptr<Work> CompletedWork(absl::Status status = absl::OkStatus());

}  // namespace zt::sharding
