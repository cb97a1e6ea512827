#include "sharding/zero/model_state_estimate.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "sharding/zero/parameter_groups.h"
#include "sharding/zero/partition.h"

namespace zt::sharding {
namespace {

// The engine's alignment: every chunk a multiple of 2 elements (DeepSpeed's
// nccl_start_alignment_factor), zero_engine.cc InitGroup.
constexpr int64_t kAlignmentNumel = 2;
constexpr int64_t kMasterBytes = 4;  // fp32 master, moments and master-dtype gradient

struct LinearShape {
  const char* name;
  int64_t in;
  int64_t out;
  bool bias;
};

// A layer's linears in DecoderLayerWeights::Linears() order.
std::vector<LinearShape> LayerLinears(const configs::ModelConfig& c) {
  const int64_t h = c.hidden_size, i = c.intermediate_size;
  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  return {{"self_attn.q_proj", h, q, c.qkv_bias},   {"self_attn.k_proj", h, kv, c.qkv_bias},
          {"self_attn.v_proj", h, kv, c.qkv_bias},  {"self_attn.o_proj", q, h, c.o_proj_bias},
          {"mlp.gate_proj", h, i, c.mlp_bias},      {"mlp.up_proj", h, i, c.mlp_bias},
          {"mlp.down_proj", i, h, c.mlp_bias}};
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t ParamBytes(const configs::DsConfig& ds) {
  return ds.bf16.enabled || ds.fp16.enabled ? 2 : 4;
}

int64_t FrozenBytes(const DecoderTensor& t, const TrainingSetup& setup, int64_t param_bytes) {
  if (t.quantized) return Quant4WeightBytes(t.numel, setup.double_quant, setup.quant_blocksize);
  return t.numel * (setup.frozen_param_bytes > 0 ? setup.frozen_param_bytes : param_bytes);
}

// The adapted linears of one layer (the targets match by suffix, so every layer alike): how
// many, and their input features summed (lora_A is [r, in]).
void AdaptedLinears(const std::vector<DecoderTensor>& tensors, int64_t r, ActivationSetup& a) {
  for (const DecoderTensor& t : tensors) {
    if (absl::StartsWith(t.name, "model.layers.0.") && absl::EndsWith(t.name, ".lora_A.weight")) {
      ++a.adapted_per_layer;
      a.adapted_in_features += t.numel / r;
    }
  }
}

void AddActivations(const configs::ModelConfig& model, const TrainingSetup& setup,
                    const std::vector<DecoderTensor>& tensors, StageEstimate& e) {
  if (!setup.activations.has_value()) return;
  ActivationSetup a = *setup.activations;
  a.adapted_per_layer = a.adapted_in_features = a.lora_r = 0;
  if (setup.lora) {
    a.lora_r = setup.lora_r;
    AdaptedLinears(tensors, setup.lora_r, a);
  } else {
    a.lora_dropout = false;
  }
  a.q_lora = setup.q_lora;
  const ActivationEstimate act = EstimateActivations(model, a);
  e.counts_activations = true;
  e.activations.bytes = act.Activations();
  e.temporaries.bytes = act.Temporaries();
}

// Stages 0-2: the engine's groups and layouts.
absl::StatusOr<StageEstimate> EngineStage(int stage, const std::vector<DecoderTensor>& tensors,
                                          const TrainingSetup& setup,
                                          const configs::DsConfig& ds, int world_size) {
  StageEstimate e;
  e.stage = stage;
  e.offload = stage > 0 && ds.zero.offload_optimizer.device == configs::OffloadDevice::kCpu;
  const int64_t pb = ParamBytes(ds);
  std::vector<std::string> names;
  std::vector<int64_t> numels;
  for (const DecoderTensor& t : tensors) {
    if (!t.trainable) {
      e.base_weights.bytes += FrozenBytes(t, setup, pb);
      continue;
    }
    names.push_back(t.name);
    numels.push_back(t.numel);
  }
  const FlatLayoutOptions options{stage == 0 ? 1 : world_size, ds.zero.reduce_bucket_numel,
                                  kAlignmentNumel};
  for (const DecayGroup& group : DecayGroups(names)) {
    std::vector<int64_t> group_numels;
    for (int p : group.params) group_numels.push_back(numels[p]);
    absl::StatusOr<FlatLayout> layout = FlatLayout::Create(group_numels, options);
    if (!layout.ok()) return layout.status();
    const int64_t partition = layout->partition_numel();
    e.partition_numel += partition;
    e.trainable.bytes += layout->flat_numel() * pb;
    e.gradients.bytes += partition * pb;
    e.optimizer.bytes += 4 * partition * kMasterBytes;
    if (e.offload && pb != kMasterBytes) e.optimizer.bytes += partition * pb;  // host staging
    if (stage > 0) e.update_buffer.bytes += partition * pb;
  }
  e.optimizer.on_host = e.offload;
  return e;
}

// Stage 3 as DeepSpeed partitions it (partition_parameters.py, parameter_offload.py) and the
// stage-3 engine allocates it (zero3_parameters.h): a persistent frozen tensor is kept whole
// only, a persistent trainable one whole and as a partition (its optimizer state is cut).
StageEstimate Stage3(const std::vector<DecoderTensor>& tensors, const TrainingSetup& setup,
                     const configs::DsConfig& ds, int world_size) {
  StageEstimate e;
  e.stage = 3;
  e.offload = ds.zero.offload_optimizer.device == configs::OffloadDevice::kCpu;
  const int64_t pb = ParamBytes(ds);
  int64_t persistent_total = 0;
  for (const DecoderTensor& t : tensors) {
    const int64_t part = CeilDiv(t.numel, world_size);
    bool persistent = false;
    if (t.numel <= ds.zero.param_persistence_threshold_numel &&
        persistent_total + t.numel <= ds.zero.model_persistence_threshold_numel) {
      persistent = true;
      persistent_total += t.numel;
    }
    const bool partitioned = t.trainable || !persistent;
    // A frozen tensor keeps the dtype it loads in (fp32 with --kbit_upcast fp32).
    const int64_t eb = !t.trainable && setup.frozen_param_bytes > 0 ? setup.frozen_param_bytes : pb;
    const int64_t bytes = t.quantized ? CeilDiv(FrozenBytes(t, setup, pb), world_size)
                                      : (partitioned ? part * eb : 0) + (persistent ? t.numel * eb : 0);
    if (!t.trainable) {
      e.base_weights.bytes += bytes;
      continue;
    }
    e.partition_numel += part;
    e.trainable.bytes += bytes;
    e.gradients.bytes += part * kMasterBytes;  // accumulated in fp32 (grad_accum_dtype)
    e.optimizer.bytes += 4 * part * kMasterBytes;
    if (e.offload && pb != kMasterBytes) e.optimizer.bytes += part * pb;  // host staging
  }
  e.base_weights.on_host = e.trainable.on_host =
      ds.zero.offload_param.device == configs::OffloadDevice::kCpu;
  e.gradients.on_host = e.offload;  // DeepSpeed keeps the gradient partitions in pinned host memory
  e.optimizer.on_host = e.offload;
  return e;
}

std::string HumanBytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes >= (int64_t{1} << 30)) return absl::StrFormat("%.2f GiB", b / (1 << 30));
  if (bytes >= (int64_t{1} << 20)) return absl::StrFormat("%.2f MiB", b / (1 << 20));
  if (bytes >= (int64_t{1} << 10)) return absl::StrFormat("%.2f KiB", b / (1 << 10));
  return absl::StrCat(bytes, " B");
}

std::string Grouped(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::vector<std::pair<const char*, const StateBytes*>> Rows(const StageEstimate& s) {
  return {{"base weights (frozen)", &s.base_weights},
          {"trainable parameters", &s.trainable},
          {"gradients", &s.gradients},
          {"optimizer state", &s.optimizer},
          {"update buffer", &s.update_buffer},
          {"activations", &s.activations},
          {"temporary buffers", &s.temporaries}};
}

}  // namespace

int64_t Quant4WeightBytes(int64_t numel, bool double_quant, int64_t blocksize) {
  const int64_t blocks = CeilDiv(numel, blocksize);
  const int64_t quant_map = 16 * 4;
  if (!double_quant) return CeilDiv(numel, 2) + blocks * 4 + quant_map;
  return CeilDiv(numel, 2) + blocks + CeilDiv(blocks, 256) * 4 + 256 * 4 + quant_map;
}

int64_t StageEstimate::DeviceBytes() const {
  int64_t total = 0;
  for (const auto& [name, row] : Rows(*this)) total += row->on_host ? 0 : row->bytes;
  return total;
}

int64_t StageEstimate::CpuRunRssBytes() const {
  return DeviceBytes() + HostBytes() + kCpuRuntimeFootprintBytes;
}

int64_t StageEstimate::HostBytes() const {
  int64_t total = 0;
  for (const auto& [name, row] : Rows(*this)) total += row->on_host ? row->bytes : 0;
  return total;
}

absl::StatusOr<std::vector<DecoderTensor>> ListDecoderTensors(const configs::ModelConfig& c,
                                                              const TrainingSetup& setup) {
  if (setup.lora && setup.lora_r < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--lora_r is ", setup.lora_r, "; expected >= 1"));
  }
  const bool base_trainable = !setup.lora;
  std::vector<DecoderTensor> out;
  auto add = [&](std::string name, int64_t numel, bool trainable, bool quantized = false) {
    out.push_back({std::move(name), numel, trainable, quantized});
  };
  add("model.embed_tokens.weight", c.vocab_size * c.hidden_size, base_trainable);
  std::vector<std::string> modules;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    add(p + "input_layernorm.weight", c.hidden_size, base_trainable);
    add(p + "post_attention_layernorm.weight", c.hidden_size, base_trainable);
    if (c.qk_norm) {
      add(p + "self_attn.q_norm.weight", c.head_dim, base_trainable);
      add(p + "self_attn.k_norm.weight", c.head_dim, base_trainable);
    }
    for (const LinearShape& l : LayerLinears(c)) {
      const std::string module = p + l.name;
      modules.push_back(module);
      add(module + ".weight", l.in * l.out, base_trainable, setup.q_lora);
      if (l.bias) add(module + ".bias", l.out, base_trainable);
      if (setup.lora && setup.lora_targets.Matches(module, true)) {
        add(module + ".lora_A.weight", setup.lora_r * l.in, true);
        add(module + ".lora_B.weight", l.out * setup.lora_r, true);
      }
    }
  }
  add("model.norm.weight", c.hidden_size, base_trainable);
  if (!c.tie_word_embeddings) add("lm_head.weight", c.vocab_size * c.hidden_size, base_trainable);
  if (setup.lora) {
    absl::Status matched = configs::CheckLoraTargetsMatch(setup.lora_targets, modules);
    if (!matched.ok()) return matched;
  }
  return out;
}

absl::StatusOr<ModelStateEstimate> EstimateModelStates(const configs::ModelConfig& model,
                                                       const TrainingSetup& setup,
                                                       const configs::DsConfig& ds,
                                                       int world_size) {
  if (world_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--num_gpus is ", world_size, "; expected >= 1"));
  }
  absl::StatusOr<std::vector<DecoderTensor>> tensors = ListDecoderTensors(model, setup);
  if (!tensors.ok()) return tensors.status();
  ModelStateEstimate e;
  e.world_size = world_size;
  e.configured_stage = ds.zero.stage;
  e.param_dtype = ds.bf16.enabled ? "bf16" : ds.fp16.enabled ? "fp16" : "fp32";
  e.reduce_bucket_numel = ds.zero.reduce_bucket_numel;
  std::vector<std::string> trainable;
  for (const DecoderTensor& t : *tensors) {
    e.total_params += t.numel;
    if (!t.trainable) continue;
    e.trainable_params += t.numel;
    trainable.push_back(t.name);
  }
  if (trainable.empty()) {
    return absl::InvalidArgumentError("--use_lora: no trainable parameter");
  }
  e.num_groups = static_cast<int>(DecayGroups(trainable).size());
  for (int stage = 0; stage <= 2; ++stage) {
    absl::StatusOr<StageEstimate> s = EngineStage(stage, *tensors, setup, ds, world_size);
    if (!s.ok()) return s.status();
    e.stages.push_back(*s);
  }
  e.stages.push_back(Stage3(*tensors, setup, ds, world_size));
  for (StageEstimate& s : e.stages) AddActivations(model, setup, *tensors, s);
  return e;
}

std::string FormatEstimateTable(const ModelStateEstimate& e) {
  std::string out = absl::StrFormat(
      "model states per rank: %s parameters (%s trainable, %s), %d data-parallel rank%s, "
      "reduce_bucket_size %s, %d parameter group%s\n",
      Grouped(e.total_params), Grouped(e.trainable_params), e.param_dtype, e.world_size,
      e.world_size == 1 ? "" : "s", Grouped(e.reduce_bucket_numel), e.num_groups,
      e.num_groups == 1 ? "" : "s");
  for (const StageEstimate& s : e.stages) {
    std::string title = absl::StrCat("ZeRO stage ", s.stage);
    if (s.stage == e.configured_stage) absl::StrAppend(&title, " (configured)");
    if (!s.refused.empty()) {
      absl::StrAppendFormat(&out, "\n%s\n  refused: %s\n", title, s.refused);
      continue;
    }
    absl::StrAppendFormat(&out, "\n%s\n  %-24s %12s %16s  %s\n", title, "per rank", "size",
                          "bytes", "where");
    for (const auto& [name, row] : Rows(s)) {
      if (s.stage == 0 && row == &s.update_buffer) continue;
      if (s.stage == 3 && row == &s.update_buffer) continue;  // gathered lazily, no buffer
      if (!s.counts_activations && (row == &s.activations || row == &s.temporaries)) continue;
      absl::StrAppendFormat(&out, "  %-24s %12s %16s  %s\n", name, HumanBytes(row->bytes),
                            Grouped(row->bytes), row->on_host ? "host" : "device");
    }
    absl::StrAppendFormat(&out, "  %-24s %12s %16s\n", "total on the device",
                          HumanBytes(s.DeviceBytes()), Grouped(s.DeviceBytes()));
    absl::StrAppendFormat(&out, "  %-24s %12s %16s\n", "total on the host",
                          HumanBytes(s.HostBytes()), Grouped(s.HostBytes()));
    if (s.counts_activations) {
      const int64_t rss = s.CpuRunRssBytes();
      absl::StrAppendFormat(&out, "  %-24s %12s %16s  (device + host + %s runtime)\n",
                            "CPU run peak RSS", HumanBytes(rss), Grouped(rss),
                            HumanBytes(kCpuRuntimeFootprintBytes));
    }
  }
  return out;
}

nlohmann::json EstimateToJson(const ModelStateEstimate& e) {
  nlohmann::json j;
  j["world_size"] = e.world_size;
  j["configured_stage"] = e.configured_stage;
  j["param_dtype"] = e.param_dtype;
  j["reduce_bucket_size"] = e.reduce_bucket_numel;
  j["total_params"] = e.total_params;
  j["trainable_params"] = e.trainable_params;
  j["parameter_groups"] = e.num_groups;
  j["stages"] = nlohmann::json::array();
  static const char* const kKeys[] = {"base_weights",    "trainable_parameters", "gradients",
                                      "optimizer_state", "update_buffer",        "activations",
                                      "temporary_buffers"};
  for (const StageEstimate& s : e.stages) {
    nlohmann::json stage = {{"stage", s.stage},
                            {"offload_optimizer", s.offload},
                            {"partition_numel", s.partition_numel},
                            {"device_bytes", s.DeviceBytes()},
                            {"host_bytes", s.HostBytes()}};
    if (!s.refused.empty()) stage["refused"] = s.refused;
    if (s.counts_activations) stage["cpu_run_rss_bytes"] = s.CpuRunRssBytes();
    int i = 0;
    for (const auto& [name, row] : Rows(s)) {
      const char* key = kKeys[i++];
      if (!s.counts_activations && (row == &s.activations || row == &s.temporaries)) continue;
      stage[key] = {{"bytes", row->bytes}, {"location", row->on_host ? "host" : "device"}};
    }
    j["stages"].push_back(std::move(stage));
  }
  return j;
}

}  // namespace zt::sharding
