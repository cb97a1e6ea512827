// Storage-level operations on tensors that ZeRO-3 needs to keep a rank's memory at its own
// partition plus what one unit gathers:
//  - EmptyOutsideHeap: a CPU buffer in its own anonymous mapping, returned to the kernel when
//    freed (gather buffers come and go per unit; in the malloc heap their pattern fragments it);
//  - ReleaseHostPages: hands back the pages of a host tensor a rank has finished reading (a
//    mapped checkpoint the partition was copied from);
//  - FreeStorage / AdoptStorage: empty, and later refill, the storage that autograd's saved
//    views share, without touching their version counters (DeepSpeed's release and re-fetch).
// Not thread-safe for one tensor; no collective.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace zt::sharding {

// A 1-D tensor of `numel` elements (contents undefined): its own anonymous mapping on the CPU
// from 1 MiB on, at::empty otherwise.
at::Tensor EmptyOutsideHeap(int64_t numel, const at::TensorOptions& options);

// Asks the kernel to reclaim the whole pages inside the tensor's bytes (madvise MADV_PAGEOUT,
// Linux 5.4+): clean file pages leave the resident set (a later read faults them in again from
// the file), anonymous pages are kept or swapped, never lost. A hint: no effect where
// unsupported, for device tensors, or for ranges smaller than a page.
void ReleaseHostPages(const at::Tensor& tensor);

// Releases the storage every view of `t` shares (they keep their sizes; reading them before
// AdoptStorage is an error).
void FreeStorage(const at::Tensor& t);
// Moves `source`'s memory into `t`'s (freed) storage; `source` is left empty.
void AdoptStorage(const at::Tensor& t, const at::Tensor& source);

}  // namespace zt::sharding
