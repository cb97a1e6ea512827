#include "sharding/collectives/self_communicator.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace zt::sharding {

absl::Status SelfCommunicator::CheckNotAborted() const {
  absl::MutexLock lock(&mu_);
  if (abort_reason_.ok()) return absl::OkStatus();
  return absl::AbortedError(absl::StrCat("communicator was aborted: ", abort_reason_.message()));
}

absl::StatusOr<std::unique_ptr<Work>> SelfCommunicator::AllReduce(at::Tensor tensor, ReduceOp) {
  ZT_RETURN_IF_ERROR(CheckNotAborted());
  ZT_RETURN_IF_ERROR(CheckCollectiveTensor("all_reduce", "tensor", tensor));
  // One contribution: sum, average, max and min of it are itself.
  return CompletedWork();
}

absl::StatusOr<std::unique_ptr<Work>> SelfCommunicator::ReduceScatter(at::Tensor input,
                                                                      at::Tensor output, ReduceOp) {
  ZT_RETURN_IF_ERROR(CheckNotAborted());
  ZT_RETURN_IF_ERROR(CheckReduceScatterShapes(input, output, 1));
  if (!input.is_same(output)) output.copy_(input);
  return CompletedWork();
}

absl::StatusOr<std::unique_ptr<Work>> SelfCommunicator::AllGather(at::Tensor input, at::Tensor output) {
  ZT_RETURN_IF_ERROR(CheckNotAborted());
  ZT_RETURN_IF_ERROR(CheckAllGatherShapes(input, output, 1));
  if (!input.is_same(output)) output.copy_(input);
  return CompletedWork();
}

absl::StatusOr<std::unique_ptr<Work>> SelfCommunicator::Broadcast(at::Tensor tensor, int root) {
  ZT_RETURN_IF_ERROR(CheckNotAborted());
  ZT_RETURN_IF_ERROR(CheckCollectiveTensor("broadcast", "tensor", tensor));
  ZT_RETURN_IF_ERROR(CheckRoot("broadcast", root, 1));
  return CompletedWork();
}

absl::StatusOr<std::unique_ptr<Work>> SelfCommunicator::Barrier() {
  ZT_RETURN_IF_ERROR(CheckNotAborted());
  return CompletedWork();
}

void SelfCommunicator::Abort(absl::Status reason) {
  absl::MutexLock lock(&mu_);
  if (abort_reason_.ok()) {
    abort_reason_ = reason.ok() ? absl::AbortedError("aborted") : std::move(reason);
  }
}

}  // namespace zt::sharding
