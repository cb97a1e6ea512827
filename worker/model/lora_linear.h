// A linear layer with an optional LoRA adapter, with PEFT's semantics (peft tuners/lora/layer.py
// Linear.forward): y = x Wᵀ + b + scaling · B(A(dropout(x))), where x is cast to the adapter's
// dtype for the adapter path and the sum is cast back to the base output's dtype.
#pragma once

#include <optional>

#include <ATen/ATen.h>

namespace zt::worker::model {

struct LoraAdapter {
  at::Tensor a;          // lora_A.weight [r, in]
  at::Tensor b;          // lora_B.weight [out, r]
  double scaling = 1.0;  // lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora
  double dropout = 0.0;  // applied to the adapter's input when training

  // scaling · B·A, [out, in], in fp32 (PEFT's get_delta_weight).
  at::Tensor DeltaWeight() const;
};

struct Linear {
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
  std::optional<LoraAdapter> lora;

  int64_t in_features() const { return weight.size(1); }
  int64_t out_features() const { return weight.size(0); }
  // `x` [..., in] -> [..., out]. Dropout (from the device's default generator) only when
  // `training`.
  at::Tensor Forward(const at::Tensor& x, bool training) const;
};

}  // namespace zt::worker::model
