#include "sharding/collectives/communicator.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace zt::sharding {
namespace {

class FinishedWork final : public Work {
 public:
  explicit FinishedWork(absl::Status status) : status_(std::move(status)) {}
  absl::Status Wait(absl::Time) override { return status_; }
  bool IsCompleted() override { return true; }

 private:
  absl::Status status_;
};

std::string Describe(const at::Tensor& tensor) {
  return absl::StrCat(c10::toString(tensor.scalar_type()), "[", tensor.numel(), "] on ",
                      tensor.device().str());
}

}  // namespace

const char* ReduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kAvg: return "avg";
    case ReduceOp::kMax: return "max";
    case ReduceOp::kMin: return "min";
  }
  return "unknown";
}

absl::Status CheckCollectiveTensor(const char* op, const char* name, const at::Tensor& tensor) {
  if (!tensor.defined()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " is an undefined tensor"));
  }
  if (!tensor.is_contiguous()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", name, " (", Describe(tensor), ") must be contiguous"));
  }
  return absl::OkStatus();
}

absl::Status CheckReduceScatterShapes(const at::Tensor& input, const at::Tensor& output, int world_size) {
  ZT_RETURN_IF_ERROR(CheckCollectiveTensor("reduce_scatter", "input", input));
  ZT_RETURN_IF_ERROR(CheckCollectiveTensor("reduce_scatter", "output", output));
  if (input.scalar_type() != output.scalar_type() || input.device() != output.device()) {
    return absl::InvalidArgumentError(absl::StrCat("reduce_scatter: input ", Describe(input),
                                                   " and output ", Describe(output),
                                                   " differ in dtype or device"));
  }
  if (input.numel() != output.numel() * world_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reduce_scatter: input has ", input.numel(), " elements, expected world size ", world_size,
        " x output's ", output.numel(), " = ", output.numel() * world_size));
  }
  return absl::OkStatus();
}

absl::Status CheckAllGatherShapes(const at::Tensor& input, const at::Tensor& output, int world_size) {
  ZT_RETURN_IF_ERROR(CheckCollectiveTensor("all_gather", "input", input));
  ZT_RETURN_IF_ERROR(CheckCollectiveTensor("all_gather", "output", output));
  if (input.scalar_type() != output.scalar_type() || input.device() != output.device()) {
    return absl::InvalidArgumentError(absl::StrCat("all_gather: input ", Describe(input),
                                                   " and output ", Describe(output),
                                                   " differ in dtype or device"));
  }
  if (output.numel() != input.numel() * world_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "all_gather: output has ", output.numel(), " elements, expected world size ", world_size,
        " x input's ", input.numel(), " = ", input.numel() * world_size));
  }
  return absl::OkStatus();
}

absl::Status CheckRoot(const char* op, int root, int world_size) {
  if (root < 0 || root >= world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": root ", root, " is not a rank of a world of size ", world_size));
  }
  return absl::OkStatus();
}

std::unique_ptr<Work> CompletedWork(absl::Status status) {
  return std::make_unique<FinishedWork>(std::move(status));
}

}  // namespace zt::sharding
