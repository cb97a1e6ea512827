#include "sharding/collectives/host_staged_communicator.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "common/torch_compat.h"

namespace zt::sharding {
namespace {

// The host op's Work, plus the copy of its result back to the device on the first good Wait().
class StagedWork final : public Work {
 public:
  StagedWork(std::unique_ptr<Work> host_work, at::Tensor device_result, at::Tensor host_result)
      : host_work_(std::move(host_work)),
        device_result_(std::move(device_result)),
        host_result_(std::move(host_result)) {}

  absl::Status Wait(absl::Time deadline) override {
    ZT_RETURN_IF_ERROR(host_work_->Wait(deadline));
    absl::MutexLock lock(&mu_);
    if (!copied_ && device_result_.defined()) {
      try {
        device_result_.copy_(host_result_);
      } catch (const c10::Error& error) {
        return absl::InternalError(absl::StrCat("host-staged: copying the result back to ",
                                                device_result_.device().str(),
                                                " failed: ", error.what_without_backtrace()));
      }
    }
    copied_ = true;
    return absl::OkStatus();
  }

  bool IsCompleted() override { return host_work_->IsCompleted(); }

 private:
  std::unique_ptr<Work> host_work_;
  at::Tensor device_result_;
  at::Tensor host_result_;
  absl::Mutex mu_;
  bool copied_ ABSL_GUARDED_BY(mu_) = false;
};

absl::StatusOr<std::unique_ptr<Work>> WithCopyBack(absl::StatusOr<std::unique_ptr<Work>> host_work,
                                                   at::Tensor device_result,
                                                   at::Tensor host_result) {
  if (!host_work.ok()) return host_work.status();
  if (device_result.defined() && device_result.data_ptr() == host_result.data_ptr()) {
    return host_work;  // not staged: the host op wrote the result in place
  }
  return std::unique_ptr<Work>(std::make_unique<StagedWork>(
      std::move(*host_work), std::move(device_result), std::move(host_result)));
}

}  // namespace

HostStagedCommunicator::HostStagedCommunicator(std::unique_ptr<Communicator> host,
                                               HostStagedOptions options)
    : host_(std::move(host)), options_(options) {}

bool HostStagedCommunicator::Staged(const at::Tensor& tensor) const {
  return !tensor.device().is_cpu() || options_.stage_host_tensors;
}

absl::StatusOr<at::Tensor> HostStagedCommunicator::ToHost(const at::Tensor& tensor,
                                                          bool copy) const {
  if (!Staged(tensor)) return tensor;
  try {
    at::Tensor host =
        common::EmptyHostBuffer(tensor.sizes(), tensor.scalar_type(), options_.pin_memory);
    if (copy) host.copy_(tensor);
    return host;
  } catch (const c10::Error& error) {
    return absl::InternalError(absl::StrCat(
        "host-staged: copying ", c10::toString(tensor.scalar_type()), "[", tensor.numel(),
        "] from ", tensor.device().str(), " to the host failed: ", error.what_without_backtrace()));
  }
}

absl::StatusOr<std::unique_ptr<Work>> HostStagedCommunicator::AllReduce(at::Tensor tensor,
                                                                        ReduceOp op) {
  ZT_RETURN_IF_ERROR(CheckCollectiveTensor("all_reduce", "tensor", tensor));
  ZT_ASSIGN_OR_RETURN(at::Tensor host, ToHost(tensor, /*copy=*/true));
  return WithCopyBack(host_->AllReduce(host, op), tensor, host);
}

absl::StatusOr<std::unique_ptr<Work>> HostStagedCommunicator::ReduceScatter(at::Tensor input,
                                                                            at::Tensor output,
                                                                            ReduceOp op) {
  ZT_RETURN_IF_ERROR(CheckReduceScatterShapes(input, output, Size()));
  ZT_ASSIGN_OR_RETURN(at::Tensor host_input, ToHost(input, /*copy=*/true));
  ZT_ASSIGN_OR_RETURN(at::Tensor host_output, ToHost(output, /*copy=*/false));
  return WithCopyBack(host_->ReduceScatter(host_input, host_output, op), output, host_output);
}

absl::StatusOr<std::unique_ptr<Work>> HostStagedCommunicator::AllGather(at::Tensor input,
                                                                        at::Tensor output) {
  ZT_RETURN_IF_ERROR(CheckAllGatherShapes(input, output, Size()));
  ZT_ASSIGN_OR_RETURN(at::Tensor host_input, ToHost(input, /*copy=*/true));
  ZT_ASSIGN_OR_RETURN(at::Tensor host_output, ToHost(output, /*copy=*/false));
  return WithCopyBack(host_->AllGather(host_input, host_output), output, host_output);
}

absl::StatusOr<std::unique_ptr<Work>> HostStagedCommunicator::Broadcast(at::Tensor tensor,
                                                                        int root) {
  ZT_RETURN_IF_ERROR(CheckCollectiveTensor("broadcast", "tensor", tensor));
  ZT_RETURN_IF_ERROR(CheckRoot("broadcast", root, Size()));
  // Only the root's contents matter; the others receive into a fresh host buffer.
  ZT_ASSIGN_OR_RETURN(at::Tensor host, ToHost(tensor, /*copy=*/Rank() == root));
  return WithCopyBack(host_->Broadcast(host, root), tensor, host);
}

absl::StatusOr<std::unique_ptr<Work>> HostStagedCommunicator::Barrier() { return host_->Barrier(); }

void HostStagedCommunicator::Abort(absl::Status reason) { host_->Abort(std::move(reason)); }

}  // namespace zt::sharding
