// A linear layer with an optional LoRA adapter, with PEFT's semantics (peft tuners/lora/layer.py
// Linear.forward): y = x Wᵀ + b + scaling · B(A(dropout(x))), where x is cast to the adapter's
// dtype for the adapter path and the sum is cast back to the base output's dtype. With a frozen
// 4-bit base (QLoRA) the base is bitsandbytes' Linear4bit instead (linear4bit.h's rules).
#pragma once

#include <optional>

#include <ATen/ATen.h>

#include "worker/model/matmul_4bit.h"
#include "worker/model/packed4bit_weight.h"

namespace zt::worker::model {

struct LoraAdapter {
  at::Tensor a;          // lora_A.weight [r, in]
  at::Tensor b;          // lora_B.weight [out, r]
  double scaling = 1.0;  // lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora
  double dropout = 0.0;  // applied to the adapter's input when training

  // scaling · B·A, [out, in], in fp32 (PEFT's get_delta_weight).
  at::Tensor DeltaWeight() const;
  // scaling · B(A(dropout(x))) in A's dtype, x cast to it first (PEFT's adapter path). Where
  // the CPU has no kernel for that dtype (fp16: common::MatmulComputeDtype)
  // the dropout and matmuls run in fp32 and the result is rounded back.
  at::Tensor Delta(const at::Tensor& x, bool training) const;
};

// QLoRA's frozen base: the packed weight and bitsandbytes' compute dtype (bnb_4bit_compute_dtype).
struct Frozen4bitBase {
  Packed4bitWeight weight;  // [out, in]
  at::ScalarType compute_dtype = at::kFloat;
  Matmul4bitOptions matmul;
};

struct Linear {
  at::Tensor weight;  // [out, in]; undefined when `base4bit` holds the base
  at::Tensor bias;    // [out] or undefined
  std::optional<Frozen4bitBase> base4bit;
  std::optional<LoraAdapter> lora;

  int64_t in_features() const {
    return base4bit.has_value() ? base4bit->weight.in_features : weight.size(1);
  }
  int64_t out_features() const {
    return base4bit.has_value() ? base4bit->weight.out_features : weight.size(0);
  }
  at::Device device() const {
    return base4bit.has_value() ? base4bit->weight.packed.device() : weight.device();
  }
  // `x` [..., in] -> [..., out]. Dropout (from the device's default generator) only when
  // `training`.
  at::Tensor Forward(const at::Tensor& x, bool training) const;
};

}  // namespace zt::worker::model
