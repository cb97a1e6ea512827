// Collectives on device (CUDA) tensors through a host communicator (Gloo): each op copies its
// inputs to host buffers (pinned when CUDA and `pin_memory` allow), runs the host op, and
// copies the results back to the device inside Work::Wait(). It exists so that two processes
// sharing one GPU can run the CUDA-tensor equivalence tests at world size 2 (NCCL refuses two
// ranks on one device), and as a fallback where NCCL is absent. Slow by design: every op pays
// two PCIe copies and the host network.
//
// Contract: as communicator.h; the device-to-host copy happens in the call (synchronous
// with the caller's current stream: LibTorch's copy_ waits for it), the host-to-device copy
// in the first successful Wait(). CPU tensors pass straight through to the host communicator
// unless `stage_host_tensors` is set (tests use it to exercise staging without a GPU).
// Thread-safe as the host communicator is; Abort() aborts the host communicator.
#pragma once

#include <memory>

#include "sharding/collectives/communicator.h"

namespace zt::sharding {

struct HostStagedOptions {
  bool pin_memory = true;
  bool stage_host_tensors = false;
};

class HostStagedCommunicator final : public Communicator {
 public:
  explicit HostStagedCommunicator(std::unique_ptr<Communicator> host,
                                  HostStagedOptions options = {});

  int Rank() const override { return host_->Rank(); }
  int Size() const override { return host_->Size(); }
  std::string BackendName() const override { return "host-staged"; }

  absl::StatusOr<std::unique_ptr<Work>> AllReduce(at::Tensor tensor, ReduceOp op) override;
  absl::StatusOr<std::unique_ptr<Work>> ReduceScatter(at::Tensor input, at::Tensor output,
                                                      ReduceOp op) override;
  absl::StatusOr<std::unique_ptr<Work>> AllGather(at::Tensor input, at::Tensor output) override;
  absl::StatusOr<std::unique_ptr<Work>> Broadcast(at::Tensor tensor, int root) override;
  absl::StatusOr<std::unique_ptr<Work>> Barrier() override;
  void Abort(absl::Status reason) override;

 private:
  bool Staged(const at::Tensor& tensor) const;
  // A host copy of `tensor` (contents copied when `copy`), or `tensor` itself when not staged.
  absl::StatusOr<at::Tensor> ToHost(const at::Tensor& tensor, bool copy) const;

  std::unique_ptr<Communicator> host_;
  HostStagedOptions options_;
};

}  // namespace zt::sharding
