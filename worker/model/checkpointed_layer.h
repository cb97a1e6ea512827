// Gradient checkpointing for one layer as a custom autograd node (LibTorch C++ has no
// torch.utils.checkpoint). The forward runs without building a graph; backward re-runs the
// layer with grad enabled and differentiates it.
//
// Contract:
//  - `params` are the layer's tensors that may need gradients (LoRA A/B, or every weight in full
//    fine-tuning), passed as explicit inputs: `fn` must read them from its `params` argument,
//    not from captured copies. Otherwise, with a frozen embedding (hidden not requiring grad),
//    nothing upstream would route gradients to them and they would silently stay zero.
//  - The default generator of hidden's device (CPU, or that CUDA device) is saved before the
//    forward and restored around the recompute, so dropout draws the same mask; the
//    generator's state after backward is what it was before the recompute.
//  - `fn` must be deterministic given its inputs and the generator state, and must stay valid
//    (it is copied into the node) until backward has run.
// Without grad mode, or when neither hidden nor any param requires grad, this is fn(hidden,
// params).
#pragma once

#include <functional>
#include <vector>

#include <ATen/ATen.h>

namespace zt::worker::model {

using LayerFunction =
    std::function<at::Tensor(const at::Tensor& hidden, const std::vector<at::Tensor>& params)>;

at::Tensor CheckpointedForward(const LayerFunction& fn, const at::Tensor& hidden,
                               const std::vector<at::Tensor>& params);

}  // namespace zt::worker::model
