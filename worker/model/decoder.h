// A Qwen2 / Qwen2.5 / Qwen3 / Llama causal decoder (HF Qwen2ForCausalLM and friends) as plain
// LibTorch tensors: embeddings, decoder layers, final RMSNorm, tied or untied lm_head. Weights
// are HF-named; LoRA adapters hang off the linears (lora_linear.h, lora_model.h).
//
// Not thread-safe for concurrent mutation; Forward may run concurrently on one instance when no
// gradients are taken.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "absl/status/statusor.h"
#include "sharding/zero/parameter_hook.h"
#include "worker/io/safetensors_file.h"
#include "worker/io/sharded_safetensors.h"
#include "worker/model/decoder_4bit_load.h"
#include "worker/model/decoder_config.h"
#include "worker/model/decoder_layer.h"

namespace zt::worker::model {

// Per-layer key/value caches for incremental decoding.
struct KvCache {
  std::vector<LayerCache> layers;
  int64_t length() const { return layers.empty() ? 0 : layers[0].length(); }
};

// ZeRO stage 3 runs the forward through a parameter hook (sharding/zero/parameter_hook.h) over the
// decoder's units (ParameterUnits): 0 the embedding, 1..L the layers, L+1 the final norm, L+2
// lm_head (the embedding again when tied).
struct ForwardOptions {
  bool training = false;               // enables LoRA dropout
  bool gradient_checkpointing = false;  // one checkpointed_layer per decoder layer
  // Null: the decoder's own tensors. Must outlive the backward of this forward (recompute).
  sharding::ParameterHook* parameter_hook = nullptr;
  // Non-null: asked before each unit reads the decoder's own tensors (an optimizer step that
  // may still be updating them). Not with a parameter_hook.
  sharding::ParameterReadiness* parameter_readiness = nullptr;
};

class Decoder {
 public:
  // Takes every tensor of `config` from `weights` by its HF name (model.layers.{i}.self_attn.
  // q_proj.weight, ...), checking shapes, cast to `dtype` (aliasing the mapping when it already
  // is `dtype`; at::ScalarType::Undefined keeps every tensor as the file holds it). For tied
  // models lm_head.weight is ignored if present. NotFound / InvalidArgument
  // naming the file, tensor, the shape found and the one expected; InvalidArgument listing
  // tensors the architecture does not use. With `four_bit` (QLoRA) every decoder-layer linear
  // weight becomes a frozen 4-bit base (Linear::base4bit; its `weight` undefined), read packed
  // or quantized one tensor at a time (decoder_4bit_load.h); embeddings, lm_head, norms and
  // biases load in `dtype` as without it.
  static absl::StatusOr<Decoder> Load(const DecoderConfig& config,
                                      const io::ShardedSafetensors& weights, at::ScalarType dtype,
                                      const Load4bitOptions* four_bit = nullptr);
  // HF's initialisation (transformers _init_weights): linear weights and embeddings
  // N(0, initializer_range²), biases 0, norm weights 1; reproducible from `seed` whatever the
  // thread count (chunks of 16M elements, each from its own generator, over at::parallel_for).
  static absl::StatusOr<Decoder> RandomInit(const DecoderConfig& config, uint64_t seed,
                                            at::ScalarType dtype, double initializer_range = 0.02);

  // Moves (or casts) every tensor, adapters included, to `device`; adapters keep their dtype.
  void To(const at::Device& device);

  const DecoderConfig& config() const { return config_; }
  std::vector<DecoderLayerWeights>& layers() { return layers_; }
  const std::vector<DecoderLayerWeights>& layers() const { return layers_; }
  const at::Tensor& embed_tokens() const { return embed_tokens_; }
  const at::Tensor& lm_head() const { return lm_head_; }
  at::ScalarType dtype() const { return embed_tokens_.scalar_type(); }
  at::Device device() const { return embed_tokens_.device(); }

  // `input_ids` int64 [B, S]; `attention_mask` [B, S] (1 = token, 0 = padding) or undefined.
  // Positions are 0..S-1 as HF's default. Returns the final-norm hidden states [B, S, h].
  // With `cache` (inference, no padding mask): positions continue from cache->length() and the
  // cache grows by S.
  at::Tensor Hidden(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                    const ForwardOptions& options = {}, KvCache* cache = nullptr) const;
  // Logits [B, S, V] in the model dtype (as HF).
  at::Tensor Logits(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                    const ForwardOptions& options = {}, KvCache* cache = nullptr) const;
  // `head`(hidden, lm_head weight [V, h]) as the last unit of the forward: with a parameter
  // hook the weight is fetched for it and released after (a loss that needs logits only at
  // some positions computes them here). Logits = ApplyHead(Hidden(...), options, linear).
  using HeadFunction = std::function<at::Tensor(const at::Tensor& hidden, const at::Tensor& lm_head)>;
  at::Tensor ApplyHead(const at::Tensor& hidden, const ForwardOptions& options,
                       const HeadFunction& head) const;

  // Every tensor under its HF / PEFT-inner name ("model.layers.0.self_attn.q_proj.lora_A.weight"
  // for adapters), lm_head only when untied. Pointers stay valid while the Decoder lives.
  std::vector<std::pair<std::string, at::Tensor*>> NamedTensors();
  // Every tensor of the 4-bit bases (QLoRA) under the names of a pre-quantized HF folder
  // ("model.layers.0.self_attn.q_proj.weight" packed, "...weight.absmax", ...); empty otherwise.
  std::vector<std::pair<std::string, at::Tensor*>> Packed4bitSlots();
  // Every tensor slot: NamedTensors(), Packed4bitSlots() and the tied lm_head (then aliasing the
  // embedding's tensor), so a ZeRO stage 3 engine can replace them all by placeholders.
  std::vector<std::pair<std::string, at::Tensor*>> TensorSlots();
  // The tensor names of every ParameterHook unit (see above), in the order Fetch returns them.
  std::vector<std::vector<std::string>> ParameterUnits();
  // The base model's HF state dict (no adapters), for save_pretrained-style exports.
  io::NamedTensors BaseStateDict() const;

 private:
  // Hidden's units: the embedding (unit 0) and decoder layer i (unit i + 1), through the
  // parameter hook (ZeRO stage 3) or on the decoder's own tensors, checkpointed or not.
  at::Tensor Embed(const at::Tensor& input_ids, const ForwardOptions& options) const;
  at::Tensor LayerUnit(size_t i, const at::Tensor& hidden, const LayerInputs& inputs,
                       const ForwardOptions& options, LayerCache* cache) const;
  at::Tensor HookedLayer(size_t i, const at::Tensor& hidden, const LayerInputs& inputs,
                         bool checkpointed, sharding::ParameterHook* hook, LayerCache* cache) const;

  DecoderConfig config_;
  at::Tensor embed_tokens_;  // [V, h]
  at::Tensor final_norm_;    // [h]
  at::Tensor lm_head_;       // [V, h]; the same tensor as embed_tokens_ when tied
  std::vector<DecoderLayerWeights> layers_;
};

// Greedy decoding with a KV cache: `prompt` int64 [1, S] -> the next `steps` argmax ids.
std::vector<int64_t> GreedyGenerate(const Decoder& decoder, const at::Tensor& prompt, int64_t steps);

// HF ForCausalLMLoss: logits in fp32, position t predicts labels[t+1], labels -100 ignored,
// mean over the counted tokens. `logits` [B, S, V], `labels` int64 [B, S]; returns a scalar.
at::Tensor CausalLmLoss(const at::Tensor& logits, const at::Tensor& labels);

}  // namespace zt::worker::model
