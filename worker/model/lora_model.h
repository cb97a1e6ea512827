// LoRA on a Decoder with PEFT's semantics (peft tuners/lora): which linears get adapters,
// PEFT's initialisation and scaling, freezing the base, PEFT's trainable-params line, merging.
// Module names are the base model's (model.layers.3.self_attn.q_proj); PEFT's tensor names add
// the "base_model.model." prefix (PeftTensorName).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "configs/lora_target_modules.h"
#include "worker/io/peft_adapter.h"
#include "worker/io/safetensors_file.h"
#include "worker/model/decoder.h"

namespace zt::worker::model {

struct LoraOptions {
  int64_t r = 8;
  double lora_alpha = 8.0;
  double lora_dropout = 0.0;
  bool use_rslora = false;  // scaling alpha / sqrt(r) instead of alpha / r
  configs::LoraTargetModules target_modules;
  // PEFT's init_lora_weights=True: A ~ kaiming_uniform(a=sqrt(5)) = U(±1/sqrt(in)), B = 0.
  // false: both random (debug / tests, as PEFT's init_lora_weights=False).
  bool init_b_zero = true;
  at::ScalarType dtype = at::kFloat;  // adapters are fp32 by default, as PEFT

  double Scaling() const;
};

// The base model's module names a LoRA target can name: every decoder-layer linear, in order.
std::vector<std::string> LinearModuleNames(const Decoder& decoder);

// Adds an adapter to every matching linear, drawing A (and B unless init_b_zero) from a CPU
// generator seeded with `seed`. InvalidArgument when a listed target (or a regex / all-linear)
// matches no module, listing the module names that exist (hint: c_attn is GPT-2's, not Qwen's);
// Unimplemented for lm_head; InvalidArgument for r <= 0 or dropout outside [0, 1).
absl::Status ApplyLora(Decoder& decoder, const LoraOptions& options, uint64_t seed);

// The adapted modules' names, in order.
std::vector<std::string> LoraModuleNames(const Decoder& decoder);

// requires_grad: true for adapters only (base frozen), or for everything when `train_base`.
void SetTrainable(Decoder& decoder, bool train_base);

// "model.layers.0.self_attn.q_proj.lora_A.weight" -> "base_model.model.model.layers.0...".
std::string PeftTensorName(const std::string& inner_name);
// Adapter tensors under PEFT's names (the saved adapter_model.safetensors keys), as fp32.
io::NamedTensors LoraStateDict(Decoder& decoder);

struct ParameterSummary {
  int64_t trainable = 0;
  int64_t all = 0;  // every parameter incl. adapters, tied weights once
  // PEFT's print_trainable_parameters line:
  // "trainable params: 1,081,344 || all params: 495,114,112 || trainable%: 0.2184"
  std::string ToString() const;
};
ParameterSummary SummarizeParameters(Decoder& decoder);

// Attaches a PEFT adapter (PeftModel.from_pretrained): every tensor must name a linear of this
// model as base_model.model.<module>.lora_{A,B}.weight with shapes [r, in] / [out, r]; the
// scaling comes from the adapter's lora_alpha, r and use_rslora. Adapters are copied into
// `dtype` (the model owns them: they never alias the mapped file, so they can train and the
// file can close). InvalidArgument naming the file, tensor and shapes (hint: maybe wrong base
// model?).
absl::Status AttachPeftAdapter(Decoder& decoder, const io::PeftAdapter& adapter,
                               at::ScalarType dtype = at::kFloat);

// After AttachPeftAdapter, for training it (is_trainable=True): the adapted modules are exactly
// those `targets` (the adapter_config.json's target_modules) select. InvalidArgument naming the
// file and the missing tensor with the shape expected, or the tensor whose module the targets
// do not select.
absl::Status CheckAdapterMatchesTargets(const Decoder& decoder,
                                        const configs::LoraTargetModules& targets,
                                        const io::PeftAdapter& adapter);

// The adapter_config.json values for `decoder`'s adapters: target_modules as PEFT stores them
// (all-linear resolved to the sorted full module names, a list sorted, a regex as is).
io::PeftLoraConfig PeftConfigFor(const Decoder& decoder, const LoraOptions& options,
                                 const std::string& base_model_name_or_path);

// W <- W + scaling · B·A (computed in fp32, stored in W's dtype) for every adapter, then drops
// the adapters (PEFT merge_and_unload).
void MergeLora(Decoder& decoder);

}  // namespace zt::worker::model
