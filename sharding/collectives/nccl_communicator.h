// Collectives on CUDA tensors through NCCL, built for failure: the communicator is created
// non-blocking (ncclCommInitRankConfig, blocking = 0) from a unique id that rank 0 publishes in
// the Store (pass one scoped by JobStore(job, generation): a restarted rank never reads an older
// generation's id), init is polled with ncclCommGetAsyncError against the caller's deadline, and
// a CommWatchdog thread aborts the communicator (ncclCommAbort) on an asynchronous error or an
// op still running `op_timeout` after it was enqueued.
//
// Works on raw device pointers and cudaStream_t only, so it compiles against a CPU-only LibTorch
// (CPU CI); GPU builds run it. Ops are enqueued on the communicator's own stream after an event
// recorded on the caller's stream (`NcclOptions::current_stream`, default the legacy default
// stream; GPU builds pass LibTorch's current stream), so they see the producers' writes.
// Work::Wait() blocks the host until the op finished on the device, the deadline passed
// (DeadlineExceeded; then Abort()), or the communicator was aborted (Aborted with the reason).
// One device per process (cudaSetDevice(device) before init): NCCL refuses two ranks on one GPU.
// Thread-safe.
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "sharding/collectives/comm_watchdog.h"
#include "sharding/collectives/communicator.h"
#include "sharding/collectives/store.h"

namespace zt::sharding {

struct NcclOptions {
  // Store key of the unique id (inside the given, job-scoped store); one per communicator.
  std::string key = "nccl/unique_id";
  // The watchdog aborts the communicator when an op is still running this long after enqueue.
  absl::Duration op_timeout = absl::Minutes(10);
  absl::Duration watchdog_interval = absl::Milliseconds(10);
  // The stream the tensors' producers and consumers use; empty = the legacy default stream.
  std::function<cudaStream_t()> current_stream;
};

// Abort state shared by a communicator and the Work handles that may outlive it.
struct NcclAbortState {
  absl::Mutex mu;
  absl::Status status ABSL_GUARDED_BY(mu);
  absl::Status Get() {
    absl::MutexLock lock(&mu);
    return status;
  }
};

class NcclCommunicator final : public Communicator {
 public:
  // Blocks until every rank joined or `deadline` passed (then the half-made communicator is
  // aborted and DeadlineExceeded names what was missing).
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(std::shared_ptr<Store> store,
                                                                  int rank, int world_size,
                                                                  int device, absl::Time deadline,
                                                                  NcclOptions options = {});
  // Stops the watchdog, then finalizes and destroys the communicator (or nothing, if aborted).
  ~NcclCommunicator() override;

  int Rank() const override { return rank_; }
  int Size() const override { return size_; }
  std::string BackendName() const override { return "nccl"; }

  absl::StatusOr<std::unique_ptr<Work>> AllReduce(at::Tensor tensor, ReduceOp op) override;
  absl::StatusOr<std::unique_ptr<Work>> ReduceScatter(at::Tensor input, at::Tensor output,
                                                      ReduceOp op) override;
  absl::StatusOr<std::unique_ptr<Work>> AllGather(at::Tensor input, at::Tensor output) override;
  absl::StatusOr<std::unique_ptr<Work>> Broadcast(at::Tensor tensor, int root) override;
  absl::StatusOr<std::unique_ptr<Work>> Barrier() override;
  // Calls ncclCommAbort (once); pending and later ops fail with Aborted carrying `reason`.
  void Abort(absl::Status reason) override;

 private:
  NcclCommunicator(int rank, int size, int device, ncclComm_t comm, NcclOptions options);
  absl::Status InitResources();

  absl::Status CheckTensor(const char* op, const char* name, const at::Tensor& tensor) const;
  // Orders the op after the caller's stream, enqueues `call` on stream_, tracks it.
  absl::StatusOr<std::unique_ptr<Work>> Launch(
      std::string description, const std::function<ncclResult_t(cudaStream_t)>& call);
  // Polls ncclCommGetAsyncError while it says ncclInProgress (non-blocking enqueue).
  absl::Status AwaitNotInProgress(const std::string& description, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PollAsyncError();

  const int rank_;
  const int size_;
  const int device_;
  const NcclOptions options_;
  std::shared_ptr<NcclAbortState> abort_state_ = std::make_shared<NcclAbortState>();
  std::atomic<bool> abort_requested_{false};
  absl::Mutex mu_;  // serialises every NCCL call on comm_
  ncclComm_t comm_ ABSL_GUARDED_BY(mu_);
  bool comm_aborted_ ABSL_GUARDED_BY(mu_) = false;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;      // recorded on the caller's stream before each op
  float* barrier_buffer_ = nullptr;  // one device float all-reduced by Barrier()
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<CommWatchdog> watchdog_;
};

}  // namespace zt::sharding
