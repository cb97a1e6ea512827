#include "worker/model/checkpointed_layer.h"

#include <mutex>

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace zt::worker::model {
namespace {

using torch::autograd::variable_list;

at::Generator DefaultGenerator(const at::Device& device) {
  return at::globalContext().defaultGenerator(device);
}

at::Tensor GetRngState(const at::Device& device) {
  at::Generator gen = DefaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void SetRngState(const at::Device& device, const at::Tensor& state) {
  at::Generator gen = DefaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

class CheckpointedLayerBackward : public torch::autograd::Node {
 public:
  CheckpointedLayerBackward(LayerFunction fn, variable_list inputs, at::Device device,
                            at::Tensor rng_state)
      : fn_(std::move(fn)), inputs_(std::move(inputs)), device_(device),
        rng_state_(std::move(rng_state)) {}

  std::string name() const override { return "zt::CheckpointedLayerBackward"; }

  variable_list apply(variable_list&& grads) override {
    // Recompute exactly as the forward did: same inputs, same generator state.
    const at::Tensor outer_state = GetRngState(device_);
    SetRngState(device_, rng_state_);
    variable_list detached;
    variable_list wanted;
    std::vector<size_t> wanted_index;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      at::Tensor t = inputs_[i].detach();
      if (task_should_compute_output(i)) {
        t.requires_grad_(true);
        wanted.push_back(t);
        wanted_index.push_back(i);
      }
      detached.push_back(t);
    }
    at::Tensor out;
    {
      torch::autograd::AutoGradMode enable(true);
      std::vector<at::Tensor> params(detached.begin() + 1, detached.end());
      out = fn_(detached[0], params);
    }
    SetRngState(device_, outer_state);
    variable_list result(inputs_.size());
    if (wanted.empty()) return result;
    variable_list input_grads = torch::autograd::grad({out}, wanted, {grads[0]},
                                                      /*retain_graph=*/false,
                                                      /*create_graph=*/false,
                                                      /*allow_unused=*/true);
    for (size_t j = 0; j < wanted_index.size(); ++j) result[wanted_index[j]] = input_grads[j];
    return result;
  }

  void release_variables() override {
    inputs_.clear();
    fn_ = nullptr;
  }

 private:
  LayerFunction fn_;
  variable_list inputs_;  // detached hidden, then params
  at::Device device_;
  at::Tensor rng_state_;
};

}  // namespace

at::Tensor CheckpointedForward(const LayerFunction& fn, const at::Tensor& hidden,
                               const std::vector<at::Tensor>& params) {
  bool any_grad = hidden.requires_grad();
  for (const at::Tensor& p : params) any_grad = any_grad || p.requires_grad();
  if (!torch::autograd::GradMode::is_enabled() || !any_grad) return fn(hidden, params);

  const at::Device device = hidden.device();
  at::Tensor rng_state = GetRngState(device);
  at::Tensor out;
  {
    torch::autograd::AutoGradMode disable(false);
    out = fn(hidden, params);
  }
  variable_list inputs{hidden};
  inputs.insert(inputs.end(), params.begin(), params.end());
  variable_list saved;
  for (const at::Tensor& t : inputs) saved.push_back(t.detach());
  auto node = std::shared_ptr<CheckpointedLayerBackward>(
      new CheckpointedLayerBackward(fn, std::move(saved), device, std::move(rng_state)),
      torch::autograd::deleteNode);
  node->set_next_edges(torch::autograd::collect_next_edges(inputs));
  torch::autograd::set_history(out, node);
  return out;
}

}  // namespace zt::worker::model
