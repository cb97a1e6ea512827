// One pre-norm decoder block of Qwen2 / Qwen3 / Llama (HF modeling_qwen2.py / modeling_qwen3.py):
//   h = x + o_proj(attn(rope(q), rope(k), v)) over input_layernorm(x)
//   y = h + down_proj(silu(gate_proj(n)) * up_proj(n)),  n = post_attention_layernorm(h)
// with grouped-query attention through common::ScaledDotProductAttention, q/k/v bias where the
// weights have one (Qwen2), per-head q_norm/k_norm before rope (Qwen3).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "worker/model/decoder_config.h"
#include "worker/model/lora_linear.h"
#include "worker/model/rotary_embedding.h"

namespace zt::worker::model {

struct DecoderLayerWeights {
  at::Tensor input_layernorm;           // [h]
  at::Tensor post_attention_layernorm;  // [h]
  at::Tensor q_norm, k_norm;            // [d], Qwen3 only
  Linear q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj;

  // The seven linears with their module names relative to the layer ("self_attn.q_proj", ...).
  std::vector<std::pair<std::string, Linear*>> Linears();
  // Every tensor (weights, biases, norms, LoRA A/B) with its name relative to the layer, LoRA
  // as "self_attn.q_proj.lora_A.weight". Undefined tensors are skipped.
  std::vector<std::pair<std::string, at::Tensor*>> Tensors();
  // The tensors of every 4-bit base (QLoRA), under the names transformers' save_pretrained
  // gives them ("self_attn.q_proj.weight" for the packed bytes, "...weight.absmax",
  // "...weight.quant_map", "...weight.nested_absmax", "...weight.nested_quant_map"). They hold
  // no parameters (not in Tensors()) but are the layer's storage all the same.
  std::vector<std::pair<std::string, at::Tensor*>> Packed4bitTensors();
  // Tensors() then Packed4bitTensors(): what a ZeRO stage 3 unit gathers and a device move moves.
  std::vector<std::pair<std::string, at::Tensor*>> StorageTensors();
};

// Keys and values of the positions seen so far, [B, kv_heads, past, d] after rope (undefined
// before the first call); DecoderLayerForward appends the new positions.
struct LayerCache {
  at::Tensor k, v;
  int64_t length() const { return k.defined() ? k.size(2) : 0; }
};

// What every layer of one forward pass shares.
struct LayerInputs {
  RotaryTables rotary;
  // Boolean [B, 1, S, past + S] (true = attend), or undefined for plain causal attention
  // (query i sees keys up to past + i).
  at::Tensor attention_mask;
  bool training = false;
};

// `hidden` [B, S, h] -> [B, S, h]. With `cache`, attends over the cached positions too and
// appends this call's keys and values (inference only; rotary tables must hold positions
// past..past+S-1).
at::Tensor DecoderLayerForward(const DecoderConfig& config, const DecoderLayerWeights& layer,
                               const at::Tensor& hidden, const LayerInputs& inputs,
                               LayerCache* cache = nullptr);

}  // namespace zt::worker::model
