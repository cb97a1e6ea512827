// One contiguous tensor in a FlatLayout (partition.h) and the views onto it: the flat parameter
// buffer of a parameter group, whose views become the model's parameters (model and buffer
// alias, as DeepSpeed re-points param.data), and per-rank partition buffers (fp32 master,
// moments, gradient accumulators) with one chunk per bucket.
//
// Units: numels are elements. Views share storage with the buffer; the buffer owns it (views
// keep it alive through their storage reference). Not thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "sharding/zero/partition.h"

namespace zt::sharding {

class FlatBuffer {
 public:
  FlatBuffer() = default;
  // A zeroed buffer of layout.flat_numel() elements (padding stays zero).
  FlatBuffer(FlatLayout layout, at::ScalarType dtype, at::Device device);

  // Copies every parameter into its slot and re-points the parameter's data at its view, so
  // later writes to the buffer (the all-gather) update the model. `params` in forward order,
  // matching the layout's numels; all of this buffer's dtype and device. InvalidArgument naming
  // `names[i]`, the expected and the actual numel / dtype / device otherwise.
  absl::Status BindParameters(const std::vector<at::Tensor>& params,
                              const std::vector<std::string>& names);

  const FlatLayout& layout() const { return layout_; }
  const at::Tensor& flat() const { return flat_; }
  // The padded region of bucket b (the reduce-scatter input / all-gather output).
  at::Tensor BucketRegion(int bucket) const;
  // Rank r's chunk of bucket b.
  at::Tensor Chunk(int bucket, int rank) const;
  // Parameter p's elements, 1-D.
  at::Tensor ParamView(int param) const;

 private:
  FlatLayout layout_;
  at::Tensor flat_;
};

// Bucket b's chunk of a partition-sized tensor (layout.partition_numel() elements).
at::Tensor PartitionChunk(const at::Tensor& partition, const FlatLayout& layout, int bucket);

}  // namespace zt::sharding
