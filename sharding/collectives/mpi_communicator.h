// Collectives over MPI for jobs started by mpirun/srun (DESIGN.md: "mpirun -np 16
// zerotune-worker train ..."), on CPU tensors. Each op is a non-blocking MPI collective
// (MPI_Iallreduce, MPI_Ireduce_scatter_block, MPI_Iallgather, MPI_Ibcast, MPI_Ibarrier) started
// and polled with MPI_Test on the communicator's worker thread, so calls return at once and
// Work::Wait(deadline) can give up (DeadlineExceeded) instead of hanging in MPI.
//
// MPI cannot cancel a started collective: Abort() fails pending and later ops and abandons the
// running one (its request stays with MPI); the job is then expected to end, every rank exiting
// non-zero (MPI_Abort or exit), as DESIGN.md prescribes under mpirun. The communicator is a
// duplicate of the given one with MPI_ERRORS_RETURN, so MPI errors become Aborted statuses.
//
// Needs MPI initialised with at least MPI_THREAD_SERIALIZED (all of this communicator's MPI
// calls happen on its worker thread). Dtypes: any for all_gather/broadcast; fp32, fp64, int32,
// int64 with MPI's own reductions, bf16 and fp16 with user-defined ones (fp32 arithmetic).
// Element counts per call are limited to INT_MAX (MPI-3 counts are int). Thread-safe.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "sharding/collectives/communicator.h"

namespace zt::sharding {

class OpQueue;

class MpiCommunicator final : public Communicator {
 public:
  // Duplicates `parent` (collective over it). FailedPrecondition when MPI is not initialised or
  // offers less than MPI_THREAD_SERIALIZED.
  static absl::StatusOr<std::unique_ptr<MpiCommunicator>> Create(MPI_Comm parent = MPI_COMM_WORLD);
  // Frees the duplicate unless an op was abandoned by Abort() or MPI was finalised already.
  ~MpiCommunicator() override;

  int Rank() const override { return rank_; }
  int Size() const override { return size_; }
  std::string BackendName() const override { return "mpi"; }

  absl::StatusOr<std::unique_ptr<Work>> AllReduce(at::Tensor tensor, ReduceOp op) override;
  absl::StatusOr<std::unique_ptr<Work>> ReduceScatter(at::Tensor input, at::Tensor output,
                                                      ReduceOp op) override;
  absl::StatusOr<std::unique_ptr<Work>> AllGather(at::Tensor input, at::Tensor output) override;
  absl::StatusOr<std::unique_ptr<Work>> Broadcast(at::Tensor tensor, int root) override;
  absl::StatusOr<std::unique_ptr<Work>> Barrier() override;
  void Abort(absl::Status reason) override;

 private:
  MpiCommunicator(MPI_Comm comm, int rank, int size);

  // Polls `request` until it completes or Abort() is called (then abandons it).
  absl::Status Complete(MPI_Request* request, const char* what);

  MPI_Comm comm_;
  const int rank_;
  const int size_;
  absl::Mutex mu_;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
  bool abandoned_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<OpQueue> queue_;
};

}  // namespace zt::sharding
