#include "worker/model/decoder_layer.h"

#include "common/torch_compat.h"
#include "worker/model/rms_norm.h"

namespace zt::worker::model {
namespace {

at::Tensor Attention(const DecoderConfig& config, const DecoderLayerWeights& layer,
                     const at::Tensor& x, const LayerInputs& inputs, LayerCache* cache) {
  const int64_t batch = x.size(0), seq = x.size(1), d = config.head_dim;
  // [B, S, heads, d]; q_norm/k_norm act per head before the transpose, as HF.
  at::Tensor q = layer.q_proj.Forward(x, inputs.training).view({batch, seq, -1, d});
  at::Tensor k = layer.k_proj.Forward(x, inputs.training).view({batch, seq, -1, d});
  at::Tensor v = layer.v_proj.Forward(x, inputs.training).view({batch, seq, -1, d});
  if (layer.q_norm.defined()) q = RmsNorm(q, layer.q_norm, config.rms_norm_eps);
  if (layer.k_norm.defined()) k = RmsNorm(k, layer.k_norm, config.rms_norm_eps);
  q = ApplyRotary(q.transpose(1, 2), inputs.rotary);
  k = ApplyRotary(k.transpose(1, 2), inputs.rotary);
  v = v.transpose(1, 2);
  const int64_t past = cache != nullptr ? cache->length() : 0;
  if (cache != nullptr) {
    if (past > 0) {
      k = at::cat({cache->k, k}, 2);
      v = at::cat({cache->v, v}, 2);
    }
    cache->k = k;
    cache->v = v;
  }
  common::SdpaOptions options;
  options.scale = 1.0 / std::sqrt(static_cast<double>(d));
  options.enable_gqa = config.num_heads != config.num_kv_heads;
  if (inputs.attention_mask.defined()) {
    options.attn_mask = inputs.attention_mask;
  } else if (past == 0) {
    options.is_causal = true;
  } else if (seq > 1) {  // SDPA's causal mask is top-left aligned: shift it by `past`
    options.attn_mask = at::ones({seq, past + seq}, x.options().dtype(at::kBool)).tril(past);
  }  // one new query sees every cached key: no mask
  const at::Tensor out = common::ScaledDotProductAttention(q, k, v, options);
  return layer.o_proj.Forward(out.transpose(1, 2).reshape({batch, seq, -1}), inputs.training);
}

at::Tensor Mlp(const DecoderLayerWeights& layer, const at::Tensor& x, bool training) {
  return layer.down_proj.Forward(
      at::silu(layer.gate_proj.Forward(x, training)) * layer.up_proj.Forward(x, training),
      training);
}

}  // namespace

std::vector<std::pair<std::string, Linear*>> DecoderLayerWeights::Linears() {
  return {{"self_attn.q_proj", &q_proj}, {"self_attn.k_proj", &k_proj},
          {"self_attn.v_proj", &v_proj}, {"self_attn.o_proj", &o_proj},
          {"mlp.gate_proj", &gate_proj}, {"mlp.up_proj", &up_proj},
          {"mlp.down_proj", &down_proj}};
}

std::vector<std::pair<std::string, at::Tensor*>> DecoderLayerWeights::Tensors() {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  auto add = [&out](std::string name, at::Tensor* t) {
    if (t->defined()) out.emplace_back(std::move(name), t);
  };
  add("input_layernorm.weight", &input_layernorm);
  add("post_attention_layernorm.weight", &post_attention_layernorm);
  add("self_attn.q_norm.weight", &q_norm);
  add("self_attn.k_norm.weight", &k_norm);
  for (auto& [name, linear] : Linears()) {
    add(name + ".weight", &linear->weight);
    add(name + ".bias", &linear->bias);
    if (linear->lora.has_value()) {
      add(name + ".lora_A.weight", &linear->lora->a);
      add(name + ".lora_B.weight", &linear->lora->b);
    }
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor*>> DecoderLayerWeights::Packed4bitTensors() {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  for (auto& [name, linear] : Linears()) {
    if (!linear->base4bit.has_value()) continue;
    Packed4bitWeight& w = linear->base4bit->weight;
    for (auto [suffix, t] : {std::pair<const char*, at::Tensor*>{"", &w.packed},
                             {".absmax", &w.absmax},
                             {".quant_map", &w.quant_map},
                             {".nested_absmax", &w.nested_absmax},
                             {".nested_quant_map", &w.nested_quant_map}}) {
      if (t->defined()) out.emplace_back(name + ".weight" + suffix, t);
    }
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor*>> DecoderLayerWeights::StorageTensors() {
  std::vector<std::pair<std::string, at::Tensor*>> out = Tensors();
  for (auto& slot : Packed4bitTensors()) out.push_back(std::move(slot));
  return out;
}

at::Tensor DecoderLayerForward(const DecoderConfig& config, const DecoderLayerWeights& layer,
                               const at::Tensor& hidden, const LayerInputs& inputs,
                               LayerCache* cache) {
  const at::Tensor h =
      hidden + Attention(config, layer,
                         RmsNorm(hidden, layer.input_layernorm, config.rms_norm_eps), inputs,
                         cache);
  return h + Mlp(layer, RmsNorm(h, layer.post_attention_layernorm, config.rms_norm_eps),
                 inputs.training);
}

}  // namespace zt::worker::model
