// Rotary position embedding, HF's default rope (half-split "rotate_half" convention, not
// interleaved pairs): inv_freq[j] = theta^(-2j/d) in fp32, angles = position * inv_freq in fp32,
// emb = cat(angles, angles); q' = q*cos + rotate_half(q)*sin with rotate_half(v) =
// cat(-v[d/2:], v[:d/2]).
#pragma once

#include <ATen/ATen.h>

namespace zt::worker::model {

struct RotaryTables {
  at::Tensor cos;  // [B or 1, S, d] in the compute dtype
  at::Tensor sin;
};

// `positions` int64 [B or 1, S]. Angles in fp32, then cast to `dtype`.
RotaryTables ComputeRotaryTables(const at::Tensor& positions, int64_t head_dim, double theta,
                                 at::ScalarType dtype);

// `x` [B, heads, S, d]; tables broadcast over heads.
at::Tensor ApplyRotary(const at::Tensor& x, const RotaryTables& tables);

}  // namespace zt::worker::model
