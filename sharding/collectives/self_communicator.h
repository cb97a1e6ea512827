// The world-size-1 communicator: a single process (one GPU, or the CPU) trains through the
// same engine code as a multi-rank job. Every collective is a copy or nothing, done
// synchronously on the caller's thread.
#pragma once

#include "absl/synchronization/mutex.h"
#include "sharding/collectives/communicator.h"

namespace zt::sharding {

class SelfCommunicator final : public Communicator {
 public:
  int Rank() const override { return 0; }
  int Size() const override { return 1; }
  std::string BackendName() const override { return "self"; }

  absl::StatusOr<std::unique_ptr<Work>> AllReduce(at::Tensor tensor, ReduceOp op) override;
  absl::StatusOr<std::unique_ptr<Work>> ReduceScatter(at::Tensor input, at::Tensor output,
                                                      ReduceOp op) override;
  absl::StatusOr<std::unique_ptr<Work>> AllGather(at::Tensor input, at::Tensor output) override;
  absl::StatusOr<std::unique_ptr<Work>> Broadcast(at::Tensor tensor, int root) override;
  absl::StatusOr<std::unique_ptr<Work>> Barrier() override;
  void Abort(absl::Status reason) override;

 private:
  absl::Status CheckNotAborted() const;

  mutable absl::Mutex mu_;
  absl::Status abort_reason_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zt::sharding
