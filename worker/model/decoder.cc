#include "worker/model/decoder.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "sharding/zero/tensor_storage.h"
#include "worker/model/checkpointed_layer.h"
#include "worker/model/rms_norm.h"

namespace zt::worker::model {
namespace {

enum class SlotKind { kMatrix, kBias, kNorm };

struct Slot {
  std::string name;
  std::vector<int64_t> shape;
  SlotKind kind;
  at::Tensor* target;
  Linear* linear = nullptr;  // set for a decoder-layer linear's weight (QLoRA quantizes those)
};

void AddLinearSlots(std::vector<Slot>& slots, const std::string& prefix, Linear& linear,
                    int64_t out, int64_t in, bool bias) {
  slots.push_back({prefix + ".weight", {out, in}, SlotKind::kMatrix, &linear.weight, &linear});
  if (bias) slots.push_back({prefix + ".bias", {out}, SlotKind::kBias, &linear.bias});
}

// Every base tensor of the architecture, in HF state-dict order, pointing into the decoder.
std::vector<Slot> BaseSlots(const DecoderConfig& c, at::Tensor& embed, at::Tensor& norm,
                            at::Tensor& lm_head, std::vector<DecoderLayerWeights>& layers) {
  const int64_t h = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  std::vector<Slot> slots;
  slots.push_back({"model.embed_tokens.weight", {c.vocab_size, h}, SlotKind::kMatrix, &embed});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    DecoderLayerWeights& l = layers[i];
    const std::string p = absl::StrCat("model.layers.", i, ".");
    slots.push_back({p + "input_layernorm.weight", {h}, SlotKind::kNorm, &l.input_layernorm});
    AddLinearSlots(slots, p + "self_attn.q_proj", l.q_proj, q, h, c.qkv_bias);
    AddLinearSlots(slots, p + "self_attn.k_proj", l.k_proj, kv, h, c.qkv_bias);
    AddLinearSlots(slots, p + "self_attn.v_proj", l.v_proj, kv, h, c.qkv_bias);
    AddLinearSlots(slots, p + "self_attn.o_proj", l.o_proj, h, q, false);
    if (c.qk_norm) {
      slots.push_back({p + "self_attn.q_norm.weight", {c.head_dim}, SlotKind::kNorm, &l.q_norm});
      slots.push_back({p + "self_attn.k_norm.weight", {c.head_dim}, SlotKind::kNorm, &l.k_norm});
    }
    slots.push_back({p + "post_attention_layernorm.weight", {h}, SlotKind::kNorm,
                     &l.post_attention_layernorm});
    AddLinearSlots(slots, p + "mlp.gate_proj", l.gate_proj, c.intermediate_size, h, false);
    AddLinearSlots(slots, p + "mlp.up_proj", l.up_proj, c.intermediate_size, h, false);
    AddLinearSlots(slots, p + "mlp.down_proj", l.down_proj, h, c.intermediate_size, false);
  }
  slots.push_back({"model.norm.weight", {h}, SlotKind::kNorm, &norm});
  if (!c.tie_word_embeddings) {
    slots.push_back({"lm_head.weight", {c.vocab_size, h}, SlotKind::kMatrix, &lm_head});
  }
  return slots;
}

// Boolean [B, 1, S, S]: causal and not a padded key. A query row left with no key (a left-padded
// position) attends to itself so softmax stays finite; such rows are padding anyway.
at::Tensor BuildAttentionMask(const at::Tensor& attention_mask, int64_t seq) {
  const auto bool_opts = attention_mask.options().dtype(at::kBool);
  const at::Tensor causal = at::ones({seq, seq}, bool_opts).tril();
  at::Tensor mask = causal.unsqueeze(0) & attention_mask.to(at::kBool).unsqueeze(1);  // [B, S, S]
  const at::Tensor empty_row = mask.any(-1, /*keepdim=*/true).logical_not();
  mask = mask | (empty_row & at::eye(seq, bool_opts).unsqueeze(0));
  return mask.unsqueeze(1);
}

// `layer` with its tensors (Tensors() order) replaced by `tensors` (a ParameterHook's Fetch).
DecoderLayerWeights WithTensors(const DecoderLayerWeights& layer,
                                const std::vector<at::Tensor>& tensors) {
  DecoderLayerWeights local = layer;
  auto slots = local.StorageTensors();
  TORCH_CHECK(slots.size() == tensors.size(), "parameter hook returned ", tensors.size(),
              " tensors for a decoder layer with ", slots.size());
  for (size_t j = 0; j < slots.size(); ++j) *slots[j].second = tensors[j];
  return local;
}

}  // namespace

absl::StatusOr<Decoder> Decoder::Load(const DecoderConfig& config,
                                      const io::ShardedSafetensors& weights, at::ScalarType dtype,
                                      const Load4bitOptions* four_bit) {
  ZT_RETURN_IF_ERROR(config.Validate());
  Decoder d;
  d.config_ = config;
  d.layers_.resize(config.num_layers);
  std::set<std::string> used;
  for (const Slot& slot : BaseSlots(config, d.embed_tokens_, d.final_norm_, d.lm_head_, d.layers_)) {
    if (four_bit != nullptr && slot.linear != nullptr) {
      const int64_t out = slot.shape[0], in = slot.shape[1];
      Frozen4bitBase base;
      base.compute_dtype = four_bit->compute_dtype;
      if (four_bit->prequantized) {
        ZT_ASSIGN_OR_RETURN(base.weight, ReadPacked4bitWeight(weights, slot.name, out, in, used));
      } else {
        ZT_ASSIGN_OR_RETURN(base.weight,
                            QuantizeWeightWhileLoading(weights, slot.name, out, in, *four_bit));
        used.insert(slot.name);
      }
      slot.linear->weight = at::Tensor();
      slot.linear->base4bit = std::move(base);
      continue;
    }
    ZT_ASSIGN_OR_RETURN(at::Tensor t, weights.Get(slot.name));
    if (t.sizes() != at::IntArrayRef(slot.shape)) {
      return absl::InvalidArgumentError(absl::StrCat(
          weights.FileOf(slot.name), ": tensor \"", slot.name, "\" has shape [",
          absl::StrJoin(t.sizes(), ", "), "], expected [", absl::StrJoin(slot.shape, ", "),
          "] from config.json (hint: maybe wrong base model or config?)"));
    }
    const bool keep = dtype == at::ScalarType::Undefined || t.scalar_type() == dtype;
    *slot.target = keep ? t : t.to(dtype);
    // A cast copy leaves the file's pages to the page cache, not to this process.
    if (!keep) sharding::ReleaseHostPages(t);
    used.insert(slot.name);
  }
  if (config.tie_word_embeddings) d.lm_head_ = d.embed_tokens_;
  std::vector<std::string> unexpected;
  for (const std::string& name : weights.Names()) {
    if (used.count(name) || absl::EndsWith(name, "rotary_emb.inv_freq") ||
        (config.tie_word_embeddings && name == "lm_head.weight")) {
      continue;
    }
    unexpected.push_back(name);
  }
  if (!unexpected.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        weights.FileOf(unexpected[0]), ": ", unexpected.size(), " tensor(s) that a ",
        ArchitectureName(config.arch), " model of this config does not have, e.g. \"",
        unexpected[0], "\" (hint: maybe a quantized or different-architecture checkpoint?)"));
  }
  return d;
}

absl::StatusOr<Decoder> Decoder::RandomInit(const DecoderConfig& config, uint64_t seed,
                                            at::ScalarType dtype, double initializer_range) {
  ZT_RETURN_IF_ERROR(config.Validate());
  Decoder d;
  d.config_ = config;
  d.layers_.resize(config.num_layers);
  // Work items of at most kRowsElements elements, each drawn from its own generator seeded by
  // (seed, item index): the result does not depend on the thread count.
  constexpr int64_t kChunkElements = int64_t{1} << 24;
  struct Item {
    at::Tensor target;
    int64_t row_begin, rows;
  };
  std::vector<Item> items;
  for (const Slot& slot : BaseSlots(config, d.embed_tokens_, d.final_norm_, d.lm_head_, d.layers_)) {
    const auto opts = at::TensorOptions().dtype(dtype);
    switch (slot.kind) {
      case SlotKind::kBias: *slot.target = at::zeros(slot.shape, opts); continue;
      case SlotKind::kNorm: *slot.target = at::ones(slot.shape, opts); continue;
      case SlotKind::kMatrix: break;
    }
    *slot.target = at::empty(slot.shape, opts);
    const int64_t cols = slot.shape[1];
    const int64_t rows_per_chunk = std::max<int64_t>(1, kChunkElements / cols);
    for (int64_t r = 0; r < slot.shape[0]; r += rows_per_chunk) {
      items.push_back({*slot.target, r, std::min(rows_per_chunk, slot.shape[0] - r)});
    }
  }
  at::parallel_for(0, static_cast<int64_t>(items.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      at::Generator gen = at::detail::createCPUGenerator(seed * 1000003ull + static_cast<uint64_t>(i));
      const Item& item = items[i];
      at::Tensor chunk = item.target.narrow(0, item.row_begin, item.rows);
      at::Tensor values = at::empty(chunk.sizes(), at::TensorOptions().dtype(at::kFloat));
      values.normal_(0.0, initializer_range, gen);
      chunk.copy_(values);
    }
  });
  if (config.tie_word_embeddings) d.lm_head_ = d.embed_tokens_;
  return d;
}

void Decoder::To(const at::Device& device) {
  for (auto& [name, tensor] : NamedTensors()) *tensor = tensor->to(device);
  for (auto& [name, tensor] : Packed4bitSlots()) *tensor = tensor->to(device);
  if (config_.tie_word_embeddings) lm_head_ = embed_tokens_;
}

at::Tensor Decoder::Hidden(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                           const ForwardOptions& options, KvCache* cache) const {
  const int64_t seq = input_ids.size(1);
  LayerInputs inputs;
  inputs.training = options.training;
  const int64_t past = cache != nullptr ? cache->length() : 0;
  if (cache != nullptr) cache->layers.resize(layers_.size());
  const at::Tensor positions =
      at::arange(past, past + seq, input_ids.options().dtype(at::kLong)).unsqueeze(0);
  inputs.rotary = ComputeRotaryTables(positions, config_.head_dim, config_.rope_theta, dtype());
  if (attention_mask.defined() && !attention_mask.all().item<bool>()) {
    inputs.attention_mask = BuildAttentionMask(attention_mask, seq);
  }
  at::Tensor hidden = Embed(input_ids, options);
  for (size_t i = 0; i < layers_.size(); ++i) {
    hidden = LayerUnit(i, hidden, inputs, options, cache != nullptr ? &cache->layers[i] : nullptr);
  }
  const int unit = static_cast<int>(layers_.size()) + 1;
  sharding::ParameterHook* const hook = options.parameter_hook;
  if (hook == nullptr) {
    if (options.parameter_readiness != nullptr) options.parameter_readiness->WaitForUnit(unit);
    return RmsNorm(hidden, final_norm_, config_.rms_norm_eps);
  }
  const at::Tensor input = hook->UnitInput(unit, hidden);
  at::Tensor out = hook->UnitOutput(
      unit,
      RmsNorm(input, hook->Fetch(unit, hook->TrainableInputs(unit)).at(0), config_.rms_norm_eps));
  hook->Release(unit);
  return out;
}

at::Tensor Decoder::Embed(const at::Tensor& input_ids, const ForwardOptions& options) const {
  sharding::ParameterHook* const hook = options.parameter_hook;
  if (hook == nullptr) {
    if (options.parameter_readiness != nullptr) options.parameter_readiness->WaitForUnit(0);
    return at::embedding(embed_tokens_, input_ids);
  }
  at::Tensor hidden = at::embedding(hook->Fetch(0, hook->TrainableInputs(0)).at(0), input_ids);
  hook->Release(0);
  return hidden;
}

at::Tensor Decoder::LayerUnit(size_t i, const at::Tensor& hidden, const LayerInputs& inputs,
                              const ForwardOptions& options, LayerCache* cache) const {
  const DecoderLayerWeights& layer = layers_[i];
  const int unit = static_cast<int>(i) + 1;
  sharding::ParameterHook* const hook = options.parameter_hook;
  const bool checkpointed = options.gradient_checkpointing && cache == nullptr;
  if (hook != nullptr) return HookedLayer(i, hidden, inputs, checkpointed, hook, cache);
  if (options.parameter_readiness != nullptr) options.parameter_readiness->WaitForUnit(unit);
  if (!checkpointed) return DecoderLayerForward(config_, layer, hidden, inputs, cache);
  // The layer's tensors that need gradients travel as explicit inputs (checkpointed_layer.h).
  DecoderLayerWeights copy = layer;
  std::vector<size_t> trainable;
  std::vector<at::Tensor> params;
  auto tensors = copy.Tensors();
  for (size_t j = 0; j < tensors.size(); ++j) {
    if (tensors[j].second->requires_grad()) {
      trainable.push_back(j);
      params.push_back(*tensors[j].second);
    }
  }
  const DecoderConfig config = config_;
  LayerFunction fn = [config, copy, trainable, inputs](const at::Tensor& h,
                                                       const std::vector<at::Tensor>& p) {
    DecoderLayerWeights local = copy;
    auto slots = local.Tensors();
    for (size_t j = 0; j < trainable.size(); ++j) *slots[trainable[j]].second = p[j];
    return DecoderLayerForward(config, local, h, inputs);
  };
  return CheckpointedForward(fn, hidden, params);
}

// ZeRO stage 3: the layer's tensors gathered just in time and released right after; with
// checkpointing the recompute in backward gathers again, from the checkpoint's input copies.
at::Tensor Decoder::HookedLayer(size_t i, const at::Tensor& hidden, const LayerInputs& inputs,
                                bool checkpointed, sharding::ParameterHook* hook,
                                LayerCache* cache) const {
  const DecoderLayerWeights& layer = layers_[i];
  const int unit = static_cast<int>(i) + 1;
  if (!checkpointed) {
    const at::Tensor input = hook->UnitInput(unit, hidden);
    const DecoderLayerWeights local =
        WithTensors(layer, hook->Fetch(unit, hook->TrainableInputs(unit)));
    at::Tensor out =
        hook->UnitOutput(unit, DecoderLayerForward(config_, local, input, inputs, cache));
    hook->Release(unit);
    return out;
  }
  const DecoderConfig config = config_;
  LayerFunction fn = [config, layer, inputs, hook, unit](const at::Tensor& h,
                                                         const std::vector<at::Tensor>& p) {
    const DecoderLayerWeights local = WithTensors(layer, hook->Fetch(unit, p));
    at::Tensor out = DecoderLayerForward(config, local, h, inputs);
    hook->Release(unit);
    return out;
  };
  return CheckpointedForward(fn, hidden, hook->TrainableInputs(unit));
}

at::Tensor Decoder::Logits(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                           const ForwardOptions& options, KvCache* cache) const {
  return ApplyHead(Hidden(input_ids, attention_mask, options, cache), options,
                   [](const at::Tensor& hidden, const at::Tensor& lm_head) {
                     return at::linear(hidden, lm_head);
                   });
}

at::Tensor Decoder::ApplyHead(const at::Tensor& hidden, const ForwardOptions& options,
                              const HeadFunction& head) const {
  sharding::ParameterHook* const hook = options.parameter_hook;
  const int unit = static_cast<int>(layers_.size()) + 2;
  if (hook == nullptr) {
    if (options.parameter_readiness != nullptr) options.parameter_readiness->WaitForUnit(unit);
    return head(hidden, lm_head_);
  }
  const at::Tensor input = hook->UnitInput(unit, hidden);
  at::Tensor out =
      hook->UnitOutput(unit, head(input, hook->Fetch(unit, hook->TrainableInputs(unit)).at(0)));
  hook->Release(unit);
  return out;
}

std::vector<int64_t> GreedyGenerate(const Decoder& decoder, const at::Tensor& prompt,
                                    int64_t steps) {
  at::NoGradGuard no_grad;
  KvCache cache;
  std::vector<int64_t> out;
  at::Tensor next = prompt;
  for (int64_t i = 0; i < steps; ++i) {
    const at::Tensor logits = decoder.Logits(next, at::Tensor(), {}, &cache);
    const int64_t id = logits.select(1, logits.size(1) - 1).argmax(-1).item<int64_t>();
    out.push_back(id);
    next = at::full({1, 1}, id, prompt.options());
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor*>> Decoder::NamedTensors() {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  out.emplace_back("model.embed_tokens.weight", &embed_tokens_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    for (auto& [name, t] : layers_[i].Tensors()) {
      out.emplace_back(absl::StrCat("model.layers.", i, ".", name), t);
    }
  }
  out.emplace_back("model.norm.weight", &final_norm_);
  if (!config_.tie_word_embeddings) out.emplace_back("lm_head.weight", &lm_head_);
  return out;
}

std::vector<std::pair<std::string, at::Tensor*>> Decoder::Packed4bitSlots() {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    for (auto& [name, t] : layers_[i].Packed4bitTensors()) {
      out.emplace_back(absl::StrCat("model.layers.", i, ".", name), t);
    }
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor*>> Decoder::TensorSlots() {
  std::vector<std::pair<std::string, at::Tensor*>> out = NamedTensors();
  for (auto& slot : Packed4bitSlots()) out.push_back(std::move(slot));
  if (config_.tie_word_embeddings) out.emplace_back("lm_head.weight", &lm_head_);
  return out;
}

std::vector<std::vector<std::string>> Decoder::ParameterUnits() {
  std::vector<std::vector<std::string>> units;
  units.push_back({"model.embed_tokens.weight"});
  for (size_t i = 0; i < layers_.size(); ++i) {
    std::vector<std::string> names;
    for (auto& [name, t] : layers_[i].StorageTensors()) {
      names.push_back(absl::StrCat("model.layers.", i, ".", name));
    }
    units.push_back(std::move(names));
  }
  units.push_back({"model.norm.weight"});
  units.push_back({config_.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight"});
  return units;
}

io::NamedTensors Decoder::BaseStateDict() const {
  Decoder& self = const_cast<Decoder&>(*this);  // reads only
  io::NamedTensors out;
  for (auto& [name, t] : self.NamedTensors()) {
    if (!absl::StrContains(name, ".lora_")) out.emplace_back(name, t->detach());
  }
  return out;
}

at::Tensor CausalLmLoss(const at::Tensor& logits, const at::Tensor& labels) {
  const int64_t seq = logits.size(1);
  const at::Tensor shift_logits = logits.narrow(1, 0, seq - 1).to(at::kFloat);
  const at::Tensor shift_labels = labels.narrow(1, 1, seq - 1);
  return at::cross_entropy_loss(shift_logits.reshape({-1, logits.size(-1)}),
                                shift_labels.reshape({-1}), /*weight=*/{},
                                at::Reduction::Mean, /*ignore_index=*/-100);
}

}  // namespace zt::worker::model
