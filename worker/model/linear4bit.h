// A frozen bitsandbytes 4-bit linear with an optional LoRA adapter, with PEFT's semantics for
// bitsandbytes layers (peft tuners/lora/bnb.py Linear4bit.forward over bitsandbytes
// nn.Linear4bit.forward):
//   base   = Matmul4bit(x.to(compute_dtype), W, bias.to(compute_dtype)).to(x.dtype)
//   result = base + (scaling · B(A(dropout(x.to(A.dtype))))).to(base.dtype)
// The adapter's output is cast to the base output's dtype before the sum (unlike the dense
// Linear, which adds in the promoted dtype). LoRA A/B stay in their own dtype (fp32, as PEFT
// keeps them); the 4-bit weight and the bias get no gradient.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "worker/model/lora_linear.h"
#include "worker/model/matmul_4bit.h"
#include "worker/model/packed4bit_weight.h"

namespace zt::worker::model {

// The forward above for the parts of one layer (Linear4bit::Forward and a QLoRA Linear's).
at::Tensor Linear4bitForward(const Packed4bitWeight& weight, const at::Tensor& bias,
                             at::ScalarType compute_dtype, const std::optional<LoraAdapter>& lora,
                             const Matmul4bitOptions& matmul, const at::Tensor& x, bool training);

struct Linear4bit {
  Packed4bitWeight weight;                    // [out, in], frozen
  at::Tensor bias;                            // [out] or undefined; frozen
  at::ScalarType compute_dtype = at::kFloat;  // bnb_4bit_compute_dtype: bf16, fp16 or fp32
  std::optional<LoraAdapter> lora;
  Matmul4bitOptions matmul;

  int64_t in_features() const { return weight.in_features; }
  int64_t out_features() const { return weight.out_features; }
  // `x` [..., in] (any float dtype, CPU) -> [..., out] in x's dtype. Dropout (from the
  // default generator) only when `training`.
  at::Tensor Forward(const at::Tensor& x, bool training) const;
};

}  // namespace zt::worker::model
