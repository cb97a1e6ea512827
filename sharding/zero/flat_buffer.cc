#include "sharding/zero/flat_buffer.h"

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"

namespace zt::sharding {

FlatBuffer::FlatBuffer(FlatLayout layout, at::ScalarType dtype, at::Device device)
    : layout_(std::move(layout)),
      flat_(at::zeros({layout_.flat_numel()}, at::TensorOptions().dtype(dtype).device(device))) {}

absl::Status FlatBuffer::BindParameters(const std::vector<at::Tensor>& params,
                                        const std::vector<std::string>& names) {
  if (static_cast<int>(params.size()) != layout_.num_params() || names.size() != params.size()) {
    return absl::InvalidArgumentError(absl::StrCat("flat buffer: ", params.size(), " parameters (",
                                                   names.size(), " names) for a layout of ",
                                                   layout_.num_params()));
  }
  for (int i = 0; i < layout_.num_params(); ++i) {
    const at::Tensor& p = params[i];
    if (p.numel() != layout_.slot(i).numel || p.scalar_type() != flat_.scalar_type() ||
        p.device() != flat_.device()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "flat buffer: parameter '", names[i], "' is ", c10::toString(p.scalar_type()), "[",
          p.numel(), "] on ", p.device().str(), "; expected ", c10::toString(flat_.scalar_type()),
          "[", layout_.slot(i).numel, "] on ", flat_.device().str()));
    }
  }
  at::NoGradGuard no_grad;
  for (int i = 0; i < layout_.num_params(); ++i) {
    at::Tensor view = ParamView(i);
    view.copy_(params[i].reshape({-1}));
    // set_data keeps the autograd identity (grad accumulator, hooks) and swaps the storage.
    at::Tensor param = params[i];
    param.set_data(view.view(params[i].sizes()));
  }
  return absl::OkStatus();
}

at::Tensor FlatBuffer::BucketRegion(int bucket) const {
  const Bucket& b = layout_.buckets()[bucket];
  return flat_.narrow(0, b.flat_offset, b.numel);
}

at::Tensor FlatBuffer::Chunk(int bucket, int rank) const {
  return flat_.narrow(0, layout_.ChunkFlatOffset(bucket, rank),
                      layout_.buckets()[bucket].chunk_numel);
}

at::Tensor FlatBuffer::ParamView(int param) const {
  const ParamSlot& slot = layout_.slot(param);
  return flat_.narrow(0, slot.flat_offset, slot.numel);
}

at::Tensor PartitionChunk(const at::Tensor& partition, const FlatLayout& layout, int bucket) {
  const Bucket& b = layout.buckets()[bucket];
  return partition.narrow(0, b.partition_offset, b.chunk_numel);
}

}  // namespace zt::sharding
