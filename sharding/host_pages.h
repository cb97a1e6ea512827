// Handing a host tensor's pages back to the kernel once a rank is done reading them.
//
// A ZeRO-3 rank copies its partition out of the model it loaded; when the model's tensors map
// the checkpoint file (safetensors loaded without a cast), every page the copy read stays in
// the rank's resident set until the mapping goes, so for a moment the rank holds its partition
// twice. ReleaseHostPages asks the kernel to reclaim the whole pages inside the tensor's bytes
// (madvise MADV_PAGEOUT, Linux 5.4+): clean file pages leave the resident set (a later read
// faults them in again from the file), anonymous pages are kept or swapped, never lost. A hint:
// no effect where unsupported, for device tensors, or for ranges smaller than a page.
#pragma once

#include <ATen/core/Tensor.h>

namespace zt::sharding {

void ReleaseHostPages(const at::Tensor& tensor);

}  // namespace zt::sharding
