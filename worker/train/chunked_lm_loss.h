// The summed cross-entropy of a linear head, chunked over rows so that no tensor holds the
// logits of every row at once: for each chunk of rows, logits = rows · lm_headᵀ, their
// log-softmax at the targets, and (when gradients are taken) the chunk's gradients wrt the rows
// and lm_head, all in one pass. Peak extra memory: two chunks of [chunk_rows, V] (three for 16-bit
// input) plus a buffer the size of `rows` and one the size of `lm_head` in the loss dtype (the
// gradients, kept for backward).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace zt::worker::train {

// Default bound on one chunk's loss-dtype logits, in bytes: 256 MiB is 441 rows of Qwen's 151,936
// token vocabulary in fp32, enough rows for the matmuls to run at full speed.
inline constexpr int64_t kLossChunkBytes = int64_t{256} << 20;

// Σ_i -log softmax(rows[i] · lm_headᵀ)[targets[i]] as a scalar with autograd to `rows` and
// `lm_head`: `rows` [N, h] and `lm_head` [V, h] of one dtype, `targets` int64 [N], each in
// [0, V) (filter ignored labels out first). As HF's loss: logits are computed in the input dtype,
// then upcast to fp32 (fp64 stays fp64), which is also the loss's dtype. A chunk holds
// max(1, chunk_bytes / (V × the loss dtype's size)) rows. lm_head may be used elsewhere too (tied
// embeddings): its gradient from here is added to the others by autograd. First-order gradients
// only (backward scales gradients saved in forward; it is not itself differentiable).
at::Tensor ChunkedLinearCrossEntropySum(const at::Tensor& rows, const at::Tensor& lm_head,
                                        const at::Tensor& targets,
                                        int64_t chunk_bytes = kLossChunkBytes);

}  // namespace zt::worker::train
