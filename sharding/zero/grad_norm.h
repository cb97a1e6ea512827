// The global gradient L2 norm for gradient_clipping and the global inf/NaN flag for loss
// scaling, as ZeRO computes them (docs/training.md): every rank sums the squares of its
// gradient partition in fp64 (each chunk's squares summed in fp32, the chunks in fp64), the sums
// are all-reduced (SUM) in fp64 across ranks, the square root is the norm; a non-finite norm is
// reported as -1. Overflow is any inf/NaN on any rank (all-reduce MAX of a flag).
//
// Blocking: each call waits for its collective until `deadline` (DeadlineExceeded after).
// Called in the same order on every rank.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sharding/collectives/communicator.h"

namespace zt::sharding {

// Σ ||t||² over `tensors` in fp64, as a one-element kDouble tensor on their device (no sync).
// Each tensor is read in chunks of `chunk_numel` elements (default 16 Mi): a chunk's sum of
// squares is taken in fp32 (fp64 for fp64 tensors; 16-bit chunks upcast one at a time, never a
// whole tensor), the chunks' sums added in fp64. A chunk whose sum of squares overflows fp32
// (norm above about 1.8e19) counts as inf, as in torch's clip_grad_norm_ of fp32 gradients.
at::Tensor SquaredNormFp64(const std::vector<at::Tensor>& tensors);
at::Tensor SquaredNormFp64(const std::vector<at::Tensor>& tensors, int64_t chunk_numel);

// sqrt(Σ over ranks of `local_squared` (one-element kDouble)), or -1 when not finite.
// `comm` null: the partition is the whole gradient (stage 0), no reduction.
absl::StatusOr<double> GlobalNorm(const at::Tensor& local_squared, Communicator* comm,
                                  absl::Time deadline);

// Whether any of `tensors` holds inf or NaN on this rank (a one-element kFloat 0/1 tensor on
// their device; no sync).
at::Tensor NonFiniteFlag(const std::vector<at::Tensor>& tensors);

// True when `local_flag` is set on any rank (all-reduce MAX; comm may be null).
absl::StatusOr<bool> GlobalOverflow(const at::Tensor& local_flag, Communicator* comm,
                                    absl::Time deadline);

}  // namespace zt::sharding
