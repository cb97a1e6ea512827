#include "tests/sharding/zero_test_model.h"

#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace zt::sharding::testing {

namespace {

bool Is16Bit(at::ScalarType dtype) { return dtype == at::kHalf || dtype == at::kBFloat16; }

}  // namespace

std::vector<NamedParameter> MakeMlp(const MlpSpec& spec, uint64_t seed) {
  at::manual_seed(seed);
  std::vector<NamedParameter> params;
  int64_t fan_in = spec.in;
  for (int i = 0; i < spec.depth; ++i) {
    const int64_t fan_out = i + 1 == spec.depth ? spec.out : spec.hidden;
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    at::Tensor w = (at::rand({fan_out, fan_in}, at::kDouble) * 2 - 1) * bound;
    at::Tensor b = (at::rand({fan_out}, at::kDouble) * 2 - 1) * bound;
    params.push_back({absl::StrCat("layers.", i, ".weight"), w.to(spec.dtype).requires_grad_()});
    params.push_back({absl::StrCat("layers.", i, ".bias"), b.to(spec.dtype).requires_grad_()});
    fan_in = fan_out;
  }
  return params;
}

at::Tensor MlpForward(const std::vector<NamedParameter>& params, const at::Tensor& x) {
  at::Tensor h = x;
  const size_t layers = params.size() / 2;
  for (size_t i = 0; i < layers; ++i) {
    const at::Tensor& w = params[2 * i].tensor;
    const at::Tensor& b = params[2 * i + 1].tensor;
    // 16-bit parameters compute in fp32 (fp16 CPU matmul is a scalar loop in 2.x): the cast is
    // differentiable, so the leaves still get gradients in their own dtype.
    const at::ScalarType compute = Is16Bit(w.scalar_type()) ? at::kFloat : w.scalar_type();
    h = at::addmm(b.to(compute), h.to(compute), w.to(compute).t());
    if (i + 1 < layers) h = at::tanh(h);
  }
  return h;
}

Batch GlobalBatch(const MlpSpec& spec, const TrainSpec& train, int world, int step) {
  at::manual_seed(1000 + step);
  const int64_t n = world * train.micro_batch * train.gradient_accumulation_steps;
  const at::ScalarType compute = Is16Bit(spec.dtype) ? at::kFloat : spec.dtype;
  return Batch{at::randn({n, spec.in}, at::kDouble).to(compute),
               at::randn({n, spec.out}, at::kDouble).to(compute)};
}

namespace {

at::Tensor Mse(const at::Tensor& pred, const at::Tensor& y) { return (pred - y).pow(2).mean(); }

void ClipByGlobalNorm(const std::vector<at::Tensor>& params, double max_norm) {
  double sq = 0;
  for (const at::Tensor& p : params) sq += p.grad().to(at::kDouble).pow(2).sum().item<double>();
  const double coef = max_norm / (std::sqrt(sq) + 1e-6);
  if (coef < 1.0) {
    for (const at::Tensor& p : params) p.grad().mul_(coef);
  }
}

}  // namespace

std::vector<at::Tensor> ReferenceTrain(const MlpSpec& spec, const TrainSpec& train, int world) {
  std::vector<NamedParameter> params = MakeMlp(spec);
  const configs::OptimizerConfig& o = train.optimizer;
  auto options_for = [&](double weight_decay) {
    auto options = std::make_unique<torch::optim::AdamWOptions>(o.lr);
    options->betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(weight_decay);
    return options;
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  std::vector<at::Tensor> all, weights, biases;
  for (size_t i = 0; i < params.size(); ++i) {
    all.push_back(params[i].tensor);
    (i % 2 == 0 ? weights : biases).push_back(params[i].tensor);
  }
  if (train.no_decay_bias) {
    groups.emplace_back(weights, options_for(o.weight_decay));
    groups.emplace_back(biases, options_for(0.0));
  } else {
    groups.emplace_back(all, options_for(o.weight_decay));
  }
  torch::optim::AdamW optimizer(groups, *options_for(o.weight_decay));
  int64_t applied = 0;
  for (int step = 0; step < train.steps; ++step) {
    if (std::count(train.skipped_steps.begin(), train.skipped_steps.end(), step) > 0) continue;
    Batch batch = GlobalBatch(spec, train, world, step);
    optimizer.zero_grad();
    Mse(MlpForward(params, batch.x), batch.y).backward();
    if (train.gradient_clipping > 0) ClipByGlobalNorm(all, train.gradient_clipping);
    if (train.scheduler != nullptr) {
      for (auto& group : optimizer.param_groups()) {
        static_cast<torch::optim::AdamWOptions&>(group.options())
            .lr(train.scheduler->LrForOptimizerStep(applied + 1));
      }
    }
    optimizer.step();
    ++applied;
  }
  std::vector<at::Tensor> out;
  for (const NamedParameter& p : params) out.push_back(p.tensor.detach().clone());
  return out;
}

std::vector<ParameterGroup> Groups(const std::vector<NamedParameter>& params,
                                   const TrainSpec& train) {
  if (!train.no_decay_bias) return {ParameterGroup{params, std::nullopt}};
  ParameterGroup weights, biases;
  for (size_t i = 0; i < params.size(); ++i) {
    (i % 2 == 0 ? weights : biases).params.push_back(params[i]);
  }
  biases.weight_decay = 0.0;
  return {weights, biases};
}

std::vector<StepResult> EngineTrain(ZeroEngine& engine, const std::vector<NamedParameter>& params,
                                    const MlpSpec& spec, const TrainSpec& train, int rank,
                                    int world) {
  std::vector<StepResult> steps;
  const int64_t mb = train.micro_batch;
  const int64_t gas = train.gradient_accumulation_steps;
  for (int step = 0; step < train.steps; ++step) {
    Batch batch = GlobalBatch(spec, train, world, step);
    for (int64_t g = 0; g < gas; ++g) {
      const int64_t start = (g * world + rank) * mb;
      const bool last = g + 1 == gas;
      at::Tensor x = batch.x.narrow(0, start, mb);
      at::Tensor y = batch.y.narrow(0, start, mb);
      // The caller normalises: the window's mean is each micro-batch's mean / gas.
      if (train.split_backward) {
        const int64_t half = mb / 2;
        engine.BeginBackward(last);
        for (int64_t part = 0; part < 2; ++part) {
          at::Tensor xs = x.narrow(0, part * half, half), ys = y.narrow(0, part * half, half);
          engine.ScaleLoss(Mse(MlpForward(params, xs), ys) * (0.5 / gas)).backward();
        }
        absl::Status finished = engine.FinishBackward();
        EXPECT_TRUE(finished.ok()) << finished;
        if (!finished.ok()) return steps;
      } else {
        absl::Status backward = engine.Backward(Mse(MlpForward(params, x), y) / gas, last);
        EXPECT_TRUE(backward.ok()) << backward;
        if (!backward.ok()) return steps;
      }
    }
    absl::StatusOr<StepResult> result = engine.Step();
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return steps;
    steps.push_back(*result);
  }
  return steps;
}

double RelativeError(const std::vector<NamedParameter>& a, const std::vector<at::Tensor>& b) {
  double diff = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    at::Tensor x = a[i].tensor.detach().to(at::kDouble), y = b[i].to(at::kDouble);
    diff += (x - y).pow(2).sum().item<double>();
    ref += y.pow(2).sum().item<double>();
  }
  return std::sqrt(diff) / std::sqrt(ref);
}

}  // namespace zt::sharding::testing
