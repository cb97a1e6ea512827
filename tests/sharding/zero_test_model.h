// A small deterministic model, data and the single-process reference training the ZeRO
// equivalence tests compare against: an MLP (tanh between layers) whose parameters are given in
// forward order, MSE loss, a fresh global batch per optimizer step, and a reference step built
// from LibTorch's own pieces (autograd over the whole global batch, torch::optim::AdamW,
// clip-by-global-norm as torch.nn.utils.clip_grad_norm_ does it).
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "configs/ds_config.h"
#include "sharding/optim/lr_scheduler.h"
#include "sharding/zero/zero_engine.h"

namespace zt::sharding::testing {

struct MlpSpec {
  int64_t in = 6;
  int64_t hidden = 12;
  int64_t out = 4;
  int depth = 3;  // linear layers
  at::ScalarType dtype = at::kDouble;
};

// Weights and biases in forward order ("layers.<i>.weight", "layers.<i>.bias"), seeded.
std::vector<NamedParameter> MakeMlp(const MlpSpec& spec, uint64_t seed = 7);
at::Tensor MlpForward(const std::vector<NamedParameter>& params, const at::Tensor& x);

struct TrainSpec {
  int steps = 4;
  int64_t micro_batch = 2;
  int64_t gradient_accumulation_steps = 1;  // the caller's window (the engine has none)
  double gradient_clipping = 0.0;
  configs::OptimizerConfig optimizer;
  bool no_decay_bias = false;  // biases in a second group without weight decay
  std::shared_ptr<const LrScheduler> scheduler;
  // Each micro-step runs two backward passes (halves of the micro-batch) inside one
  // BeginBackward/FinishBackward, so every parameter's gradient hook fires twice.
  bool split_backward = false;
  // Reference only: optimizer steps (0-based) skipped, as an overflowed step is.
  std::vector<int> skipped_steps;
};

// The global batch of optimizer step `step` (world * micro_batch * gas samples).
struct Batch {
  at::Tensor x;
  at::Tensor y;
};
Batch GlobalBatch(const MlpSpec& spec, const TrainSpec& train, int world, int step);

// Single-process training on the whole global batch; returns the parameters after the steps.
std::vector<at::Tensor> ReferenceTrain(const MlpSpec& spec, const TrainSpec& train, int world);

// The engine's parameter groups for `params` (one group, or weights + no-decay biases).
std::vector<ParameterGroup> Groups(const std::vector<NamedParameter>& params,
                                   const TrainSpec& train);

// Trains with `engine` over this rank's micro-batches, one window of
// gradient_accumulation_steps backwards per step; EXPECTs every call to succeed. Returns the
// results of the steps.
std::vector<StepResult> EngineTrain(ZeroEngine& engine, const std::vector<NamedParameter>& params,
                                    const MlpSpec& spec, const TrainSpec& train, int rank,
                                    int world);

// ||a - b||_2 / ||b||_2 over all tensors, in fp64.
double RelativeError(const std::vector<NamedParameter>& a, const std::vector<at::Tensor>& b);

}  // namespace zt::sharding::testing
