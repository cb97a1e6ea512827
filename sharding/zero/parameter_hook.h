// What a model's forward asks for its tensors when they are not its own (ZeRO stage 3:
// zero3_parameters.h implements it) or not yet updated (the asynchronous offload step of stages
// 1-2), the seam between the model (worker/model/decoder.h calls it) and sharding/.
// Header only, torch's Tensor type only: sharding/ depends on no model code.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace zt::sharding {

// ZeRO stage 3 (zero3_parameters.h): the model's own tensors are empty placeholders and every
// unit of the forward asks the hook for its full tensors just before it runs and
// hands them back right after. Units in forward order (Decoder::ParameterUnits): 0 the
// embedding, 1..L the layers, L+1 the final norm, L+2 lm_head (the embedding again when tied).
// Every rank must run the same units in the same order (gathers are collectives). A hook that
// fails throws (c10::Error naming the unit), as any other failing op of the forward.
class ParameterHook {
 public:
  virtual ~ParameterHook() = default;
  // The leaves gradients flow to for unit `unit`'s trainable tensors, in unit order (empty for
  // a frozen unit). Gradient checkpointing passes them into the checkpointed layer.
  virtual std::vector<at::Tensor> TrainableInputs(int unit) = 0;
  // The unit's full tensors in ParameterUnits order; the trainable ones are differentiable
  // functions of `trainable_inputs` (what TrainableInputs returned, or the recompute's copies).
  virtual std::vector<at::Tensor> Fetch(int unit, const std::vector<at::Tensor>& trainable_inputs) = 0;
  // The unit ran: its gathered tensors may be freed (autograd may still hold some).
  virtual void Release(int unit) = 0;
  // Units run without gradient checkpointing pass their input and output through these
  // (identity by default), so a hook can free the gathered tensors autograd saved once the
  // unit's forward is done, gather them again when backward reaches the unit's output, and
  // free them when backward leaves its input (DeepSpeed's pre/post-backward hooks).
  virtual at::Tensor UnitInput(int /*unit*/, const at::Tensor& input) { return input; }
  virtual at::Tensor UnitOutput(int /*unit*/, const at::Tensor& output) { return output; }
};

// ZeRO stages 1-2 with the asynchronous offload step (zero_engine.h): the model's tensors are
// its own, but the step that updates them may still be running (CPU AdamW, copies back,
// all-gathers) while the next forward starts. The forward calls WaitForUnit before each unit
// (the units of ParameterHook above) reads its tensors, so a layer waits only for its own
// parameters. Throws (c10::Error) when the step failed.
class ParameterReadiness {
 public:
  virtual ~ParameterReadiness() = default;
  virtual void WaitForUnit(int unit) = 0;
};

}  // namespace zt::sharding
