#include "configs/ds_schema.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace zt::configs {
namespace {

using nlohmann::json;
using K = ValueKind;
using S = Support;

constexpr char kMaxInt64[] = "9223372036854775807";
constexpr char kNvmeOnly[] = "used only with NVMe offload, which zerotune does not implement";
constexpr char kPerfKnob[] =
    "a performance knob of DeepSpeed's module hooks; zerotune gathers parameters per decoder "
    "layer with the same results";
constexpr char kCkptNote[] =
    "DeepSpeed applies it only when the model calls deepspeed.checkpointing.checkpoint(); "
    "zerotune recomputes activations with --gradient_checkpointing";

std::vector<BlockSpec> MakeSpecs() {
  std::vector<BlockSpec> specs;
  specs.push_back({"", false, {
      {"train_batch_size", K::kAny, "null", S::kImplemented},
      {"train_micro_batch_size_per_gpu", K::kAny, "null", S::kImplemented},
      {"gradient_accumulation_steps", K::kAny, "null", S::kImplemented},
      {"managed_gradient_accumulation", K::kBool, "true", S::kRejected},
      {"optimizer", K::kObject, "null", S::kImplemented},
      {"scheduler", K::kObject, "null", S::kImplemented},
      {"fp16", K::kObject, "null", S::kImplemented},
      {"bf16", K::kObject, "null", S::kImplemented, "bfloat16"},
      {"torch_autocast", K::kObject, "null", S::kImplemented},
      {"zero_optimization", K::kAny, "null", S::kImplemented},
      {"gradient_clipping", K::kAny, "1.0", S::kImplemented},
      {"prescale_gradients", K::kBool, "false", S::kImplemented},
      {"gradient_predivide_factor", K::kNumber, "1.0", S::kImplemented},
      {"gradient_allreduce_op", K::kString, "\"mean\"", S::kImplemented, "", "mean|sum"},
      {"communication_data_type", K::kNullableString, "null", S::kImplemented},
      {"seq_parallel_communication_data_type", K::kString, "\"fp32\"", S::kIgnored, "", "",
       "used only with Ulysses sequence parallelism, which zerotune does not implement"},
      {"disable_allgather", K::kBool, "false", S::kIgnored, "", "", "legacy; DeepSpeed ignores it"},
      {"zero_allow_untested_optimizer", K::kBool, "false", S::kImplemented},
      {"zero_force_ds_cpu_optimizer", K::kBool, "true", S::kImplemented},
      {"activation_checkpointing", K::kObject, "null", S::kImplemented},
      {"data_types", K::kObject, "null", S::kImplemented},
      {"checkpoint", K::kObject, "null", S::kImplemented},
      {"steps_per_print", K::kNullableInt, "null", S::kLogging},
      {"wall_clock_breakdown", K::kBool, "false", S::kLogging},
      {"memory_breakdown", K::kBool, "false", S::kLogging},
      {"dump_state", K::kBool, "false", S::kLogging},
      {"flops_profiler", K::kAny, "null", S::kImplemented},
      {"tensorboard", K::kObject, "null", S::kImplemented},
      {"csv_monitor", K::kObject, "null", S::kImplemented},
      {"wandb", K::kObject, "null", S::kImplemented},
      {"comet", K::kObject, "null", S::kImplemented},
      {"comms_logger", K::kObject, "null", S::kImplemented},
      {"aio", K::kAny, "null", S::kIgnored, "", "", kNvmeOnly},
      {"dataloader_drop_last", K::kBool, "false", S::kIgnored, "", "",
       "applies to deepspeed.initialize(training_data=...), which zerotune's data loader replaces"},
      {"sequence_parallel_size", K::kNullableInt, "null", S::kImplemented},
      {"data_parallel_size", K::kNullableInt, "null", S::kImplemented},
      {"allgather_size", K::kNonNegativeInt, "500000000", S::kIgnored, "", "",
       "read only with the legacy boolean zero_optimization"},
      {"log_level", K::kNullableString, "null", S::kLogging},
      {"disable_python_gc", K::kAny, "false", S::kIgnored, "", "",
       "Python garbage-collection control; zerotune has no Python"},
      {"use_data_before_expert_parallelism", K::kBool, "false", S::kIgnored, "", "",
       "expert parallelism only"},
      {"timers", K::kAny, "null", S::kLogging},
      // Feature blocks zerotune does not implement: an error when enabled (ds_config.cc).
      {"compile", K::kAny, "null", S::kImplemented},
      {"hybrid_engine", K::kAny, "null", S::kImplemented},
      {"pipeline", K::kAny, "null", S::kImplemented},
      {"autotuning", K::kAny, "null", S::kImplemented},
      {"data_efficiency", K::kAny, "null", S::kImplemented},
      {"weight_quantization", K::kAny, "null", S::kImplemented},
      {"tensor_parallel", K::kAny, "null", S::kImplemented},
      {"expert_parallel", K::kAny, "null", S::kImplemented},
      {"datastates", K::kAny, "null", S::kImplemented},
  }});
  specs.push_back({"zero_optimization", true, {
      {"stage", K::kInt, "0", S::kImplemented},
      {"contiguous_gradients", K::kBool, "true", S::kImplemented},
      {"reduce_scatter", K::kBool, "true", S::kImplemented},
      {"reduce_bucket_size", K::kPositiveInt, "500000000", S::kImplemented},
      {"use_multi_rank_bucket_allreduce", K::kBool, "true", S::kIgnored, "", "",
       "zerotune reduces every bucket with one reduce-scatter; the result is the same"},
      {"allgather_partitions", K::kBool, "true", S::kIgnored, "", "", "DeepSpeed ignores it too"},
      {"allgather_bucket_size", K::kNonNegativeInt, "500000000", S::kImplemented},
      {"overlap_comm", K::kNullableBool, "null", S::kImplemented},
      {"compute_grad_norm", K::kBool, "true", S::kRejected},
      {"load_from_fp32_weights", K::kBool, "true", S::kImplemented},
      {"elastic_checkpoint", K::kBool, "false", S::kRejected},
      {"offload_optimizer", K::kObject, "null", S::kImplemented},
      {"offload_param", K::kObject, "null", S::kImplemented},
      {"sub_group_size", K::kNonNegativeInt, "1000000000", S::kImplemented},
      {"stage3_prefetch_bucket_size", K::kNonNegativeInt, "50000000", S::kImplemented,
       "prefetch_bucket_size"},
      {"stage3_param_persistence_threshold", K::kNonNegativeInt, "100000", S::kImplemented,
       "param_persistence_threshold"},
      {"stage3_model_persistence_threshold", K::kNonNegativeInt, kMaxInt64, S::kImplemented,
       "model_persistence_threshold"},
      {"stage3_max_live_parameters", K::kNonNegativeInt, "1000000000", S::kImplemented,
       "max_live_parameters"},
      {"stage3_max_reuse_distance", K::kNonNegativeInt, "1000000000", S::kImplemented,
       "max_reuse_distance"},
      {"stage3_gather_16bit_weights_on_model_save", K::kBool, "false", S::kImplemented,
       "gather_16bit_weights_on_model_save|stage3_gather_fp16_weights_on_model_save"},
      {"stage3_module_granularity_threshold", K::kInt, "0", S::kIgnored,
       "module_granularity_threshold", "", kPerfKnob},
      {"stage3_use_all_reduce_for_fetch_params", K::kBool, "false", S::kIgnored,
       "use_all_reduce_for_fetch_params", "", kPerfKnob},
      {"stage3_allgather_sequential", K::kBool, "false", S::kIgnored, "allgather_sequential", "",
       kPerfKnob},
      {"ignore_unused_parameters", K::kBool, "true", S::kImplemented},
      {"round_robin_gradients", K::kBool, "false", S::kIgnored, "", "",
       "only reorders DeepSpeed's CPU-offload copies; the result is the same"},
      {"zero_hpz_partition_size", K::kInt, "1", S::kRejected},
      {"zero_quantized_weights", K::kBool, "false", S::kRejected},
      {"zero_quantized_nontrainable_weights", K::kBool, "false", S::kRejected},
      {"zero_quantized_gradients", K::kBool, "false", S::kRejected},
      {"memory_efficient_linear", K::kBool, "true", S::kIgnored, "", "", kPerfKnob},
      {"override_module_apply", K::kBool, "true", S::kIgnored, "", "", kPerfKnob},
      {"pipeline_loading_checkpoint", K::kBool, "false", S::kRejected},
      {"log_trace_cache_warnings", K::kBool, "false", S::kLogging},
      {"enable_sanity_checks", K::kBool, "false", S::kIgnored, "", "", "a DeepSpeed debug aid"},
      {"legacy_stage1", K::kBool, "false", S::kRejected},
      {"zenflow", K::kAny, "null", S::kRejected},
      {"parameter_alignment", K::kBool, "false", S::kIgnored, "", "",
       "only pads DeepSpeed's flat buffers for alignment; the result is the same"},
      {"save_muon_momentum_buffer_in_memory", K::kBool, "false", S::kIgnored, "", "",
       "used only with the Muon optimizer"},
      {"leaf_module", K::kAny, "null", S::kIgnored, "", "",
       "names ZeRO-3 leaf modules of mixture-of-experts blocks, which zerotune's models do not have"},
      {"cpu_offload", K::kNullableBool, "null", S::kImplemented},
      {"cpu_offload_param", K::kNullableBool, "null", S::kImplemented},
      {"cpu_offload_use_pin_memory", K::kNullableBool, "null", S::kIgnored, "", "",
       "deprecated; use offload_optimizer.pin_memory"},
  }});
  auto offload_keys = [](bool optimizer) {
    std::vector<KeySpec> keys = {
        {"device", K::kString, "\"none\"", S::kImplemented, "", "none|cpu|nvme"},
        {"nvme_path", K::kNullableString, "null", S::kIgnored, "", "", kNvmeOnly},
        {"pin_memory", K::kBool, "true", S::kImplemented},
        {"buffer_count", K::kNonNegativeInt, optimizer ? "4" : "5", S::kIgnored, "", "",
         kNvmeOnly}};
    if (optimizer) {
      keys.push_back({"pipeline_read", K::kBool, "false", S::kIgnored, "", "", kNvmeOnly});
      keys.push_back({"pipeline_write", K::kBool, "false", S::kIgnored, "", "", kNvmeOnly});
      keys.push_back({"fast_init", K::kBool, "false", S::kIgnored, "", "", kNvmeOnly});
      keys.push_back({"ratio", K::kNumber, "1.0", S::kRejected});
      keys.push_back({"super_offload", K::kBool, "false", S::kRejected});
      keys.push_back({"cpuadam_cores_perc", K::kNumber, "0.8", S::kIgnored, "", "",
                      "SuperOffload only"});
    } else {
      keys.push_back({"buffer_size", K::kNonNegativeInt, "100000000", S::kIgnored, "", "",
                      kNvmeOnly});
      keys.push_back({"max_in_cpu", K::kNonNegativeInt, "1000000000", S::kIgnored, "", "",
                      kNvmeOnly});
    }
    return keys;
  };
  specs.push_back({"zero_optimization.offload_optimizer", true, offload_keys(true)});
  specs.push_back({"zero_optimization.offload_param", true, offload_keys(false)});
  specs.push_back({"fp16", true, {
      {"enabled", K::kBool, "false", S::kImplemented},
      {"auto_cast", K::kBool, "false", S::kRejected},
      {"loss_scale", K::kNumber, "0.0", S::kImplemented},
      {"initial_scale_power", K::kInt, "16", S::kImplemented},
      {"loss_scale_window", K::kInt, "1000", S::kImplemented},
      {"hysteresis", K::kInt, "2", S::kImplemented},
      {"consecutive_hysteresis", K::kBool, "false", S::kImplemented},
      {"min_loss_scale", K::kInt, "1", S::kImplemented},
      {"fp16_master_weights_and_grads", K::kBool, "false", S::kRejected},
  }});
  specs.push_back({"bf16", true, {
      {"enabled", K::kBool, "false", S::kImplemented},
      {"immediate_grad_update", K::kBool, "false", S::kIgnored, "", "",
       "used only by DeepSpeed's non-ZeRO BF16_Optimizer"},
      {"check_grad_overflow", K::kBool, "true", S::kImplemented},
      {"bf16_master_weights_and_grads", K::kBool, "false", S::kRejected},
      {"bf16_optimizer_states", K::kBool, "false", S::kRejected},
  }});
  auto monitor = [](const char* name) {
    return BlockSpec{name, true, {
        {"enabled", K::kBool, "false", S::kImplemented},
        {"output_path", K::kString, "\"\"", S::kImplemented},
        {"job_name", K::kString, "\"DeepSpeedJobName\"", S::kImplemented}}};
  };
  specs.push_back(monitor("tensorboard"));
  specs.push_back(monitor("csv_monitor"));
  specs.push_back({"wandb", true, {
      {"enabled", K::kBool, "false", S::kImplemented},
      {"group", K::kNullableString, "null", S::kImplemented},
      {"team", K::kNullableString, "null", S::kImplemented},
      {"project", K::kString, "\"deepspeed\"", S::kImplemented}}});
  specs.push_back({"comet", true, {
      {"enabled", K::kBool, "false", S::kImplemented},
      {"samples_log_interval", K::kInt, "100", S::kImplemented},
      {"project", K::kNullableString, "null", S::kImplemented},
      {"workspace", K::kNullableString, "null", S::kImplemented},
      {"api_key", K::kNullableString, "null", S::kImplemented},
      {"experiment_name", K::kNullableString, "null", S::kImplemented},
      {"experiment_key", K::kNullableString, "null", S::kImplemented},
      {"online", K::kNullableBool, "null", S::kImplemented},
      {"mode", K::kNullableString, "null", S::kImplemented}}});
  specs.push_back({"comms_logger", true, {
      {"enabled", K::kBool, "false", S::kImplemented},
      {"verbose", K::kBool, "false", S::kImplemented},
      {"prof_all", K::kBool, "true", S::kImplemented},
      {"debug", K::kBool, "false", S::kImplemented},
      {"prof_ops", K::kAny, "[]", S::kImplemented}}});
  specs.push_back({"activation_checkpointing", false, {
      {"partition_activations", K::kBool, "false", S::kIgnored, "", "", kCkptNote},
      {"cpu_checkpointing", K::kBool, "false", S::kIgnored, "", "", kCkptNote},
      {"contiguous_memory_optimization", K::kBool, "false", S::kIgnored, "", "", kCkptNote},
      {"number_checkpoints", K::kNullableInt, "null", S::kIgnored, "", "", kCkptNote},
      {"synchronize_checkpoint_boundary", K::kBool, "false", S::kIgnored, "", "", kCkptNote},
      {"profile", K::kBool, "false", S::kLogging}}});
  specs.push_back({"data_types", false, {
      {"grad_accum_dtype", K::kNullableString, "null", S::kImplemented, "", ""},
      {"param_dtype", K::kNullableString, "null", S::kImplemented},
      {"buffer_dtype", K::kNullableString, "null", S::kIgnored, "", "",
       "zerotune's models keep no floating-point buffers"}}});
  specs.push_back({"checkpoint", false, {
      {"tag_validation", K::kString, "\"Warn\"", S::kImplemented},
      {"load_universal", K::kBool, "false", S::kRejected},
      {"use_node_local_storage", K::kBool, "false", S::kImplemented},
      {"parallel_write", K::kAny, "{\"pipeline_stage\": false}", S::kIgnored, "", "",
       "pipeline parallelism only"}}});
  return specs;
}

const std::vector<BlockSpec>& AllSpecs() {
  static const std::vector<BlockSpec>* specs = new std::vector<BlockSpec>(MakeSpecs());
  return *specs;
}

bool IsAuto(const json& v) { return v.is_string() && v.get<std::string>() == "auto"; }

// Emits the support-policy message for a present, non-default value.
void ApplySupport(const KeySpec& key, const std::string& path, const json& value,
                  Diagnostics& diag) {
  switch (key.support) {
    case S::kImplemented:
      return;
    case S::kRejected:
      diag.Error(path, absl::StrCat(ShowValue(value), " is not supported by zerotune (only ",
                                    key.default_json, ")"));
      return;
    case S::kLogging:
      diag.Warning(path, absl::StrCat(ShowValue(value),
                                      " only changes DeepSpeed's logging; zerotune ignores it "
                                      "(metrics go to metrics.jsonl and the progress line)"));
      return;
    case S::kIgnored:
      diag.Warning(path, absl::StrCat(ShowValue(value), " is accepted and ignored: ", key.note));
      return;
  }
}

bool LaxBool(const std::string& s, bool& out) {
  for (const char* t : {"true", "yes", "on", "1", "t", "y"}) {
    if (s == t) return out = true, true;
  }
  for (const char* f : {"false", "no", "off", "0", "f", "n"}) {
    if (s == f) return out = false, true;
  }
  return false;
}

// pydantic lax mode: numeric strings become numbers, boolean words become booleans.
json LaxConvert(const json& value, ValueKind kind) {
  if (!value.is_string()) {
    if ((kind == K::kBool || kind == K::kNullableBool) && value.is_number_integer() &&
        (value.get<int64_t>() == 0 || value.get<int64_t>() == 1)) {
      return json(value.get<int64_t>() == 1);
    }
    return value;
  }
  const std::string s = value.get<std::string>();
  if (kind == K::kBool || kind == K::kNullableBool) {
    bool b = false;
    std::string lower = s;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    return LaxBool(lower, b) ? json(b) : value;
  }
  if (kind == K::kString || kind == K::kNullableString || kind == K::kAny || kind == K::kObject) {
    return value;
  }
  json parsed = json::parse(s, nullptr, /*allow_exceptions=*/false);
  return parsed.is_number() ? parsed : value;
}

}  // namespace

const char* RemovedKeyMessage(const std::string& block, const std::string& key) {
  static const std::map<std::string, const char*>* removed = new std::map<std::string, const char*>{
      {"nebula", "Nebula checkpointing has been removed from DeepSpeed"},
      {"compression_training", "the DeepSpeed compression library has been removed"},
      {"amp", "NVIDIA Apex AMP integration has been removed; use fp16 or bf16"},
      {"quantize_training", "Mixture-of-Quantization (MoQ) has been removed from DeepSpeed"},
      {"sparse_gradients", "sparse compression of embedding gradients has been removed from DeepSpeed"},
      {"eigenvalue", "eigenvalue-based MoQ has been removed from DeepSpeed"},
      {"sparse_attention", "DeepSpeed Sparse Attention has been removed"},
      {"elasticity", "elastic training has been removed from DeepSpeed; set train_batch_size / "
                     "train_micro_batch_size_per_gpu / gradient_accumulation_steps directly"},
      {"graph_harvesting", "graph harvesting has been removed from DeepSpeed"},
      {"curriculum_learning", "top-level curriculum_learning has been removed from DeepSpeed"},
      {"progressive_layer_drop", "Progressive Layer Dropping has been removed from DeepSpeed"},
      {"zero_optimization.mics_shard_size", "MiCS ZeRO-3 sharding has been removed from DeepSpeed"},
      {"zero_optimization.mics_hierarchical_params_gather",
       "MiCS ZeRO-3 sharding has been removed from DeepSpeed"},
      {"zero_optimization.zeropp_loco_param", "LoCo-Zero++ has been removed from DeepSpeed"},
  };
  auto it = removed->find(JoinPath(block, key));
  return it == removed->end() ? nullptr : it->second;
}

std::string JoinPath(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : absl::StrCat(parent, ".", key);
}

std::string ShowValue(const json& value) {
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
      return absl::StrCat(static_cast<int64_t>(d), ".0");
    }
  }
  return value.dump();
}

const BlockSpec* FindBlockSpec(const std::string& path) {
  for (const BlockSpec& spec : AllSpecs()) {
    if (path == spec.path) return &spec;
  }
  return nullptr;
}

const KeySpec* FindKeySpec(const BlockSpec& block, const std::string& key) {
  for (const KeySpec& spec : block.keys) {
    if (key == spec.name) return &spec;
    if (*spec.aliases == '\0') continue;
    for (absl::string_view alias : absl::StrSplit(spec.aliases, '|')) {
      if (alias == key) return &spec;
    }
  }
  return nullptr;
}

json CoerceValue(const json& raw, ValueKind kind, const std::string& path, Diagnostics& diag,
                 bool lax) {
  const json value = lax ? LaxConvert(raw, kind) : raw;
  auto fail = [&](absl::string_view expected) {
    diag.Error(path, absl::StrCat("expected ", expected, ", got ", ShowValue(value)));
    return json();
  };
  const bool nullable =
      kind == K::kNullableBool || kind == K::kNullableInt || kind == K::kNullableString;
  if (value.is_null() && (nullable || kind == K::kAny || kind == K::kObject)) return value;
  switch (kind) {
    case K::kBool:
    case K::kNullableBool:
      return value.is_boolean() ? value : fail(nullable ? "true, false or null" : "true or false");
    case K::kInt:
    case K::kNonNegativeInt:
    case K::kPositiveInt:
    case K::kNullableInt: {
      const char* expected = kind == K::kNonNegativeInt ? "an integer >= 0"
                             : kind == K::kPositiveInt  ? "an integer > 0"
                                                        : "an integer";
      json out;
      if (value.is_number_integer()) {
        out = value;
      } else if (value.is_number_float()) {
        double d = value.get<double>();
        if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.2e18) return fail(expected);
        out = static_cast<int64_t>(d);
      } else {
        return fail(expected);
      }
      if (out.is_number_unsigned()) {
        if (out.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
          return fail(absl::StrCat(expected, " below 2^63"));
        }
        out = static_cast<int64_t>(out.get<uint64_t>());
      }
      if (kind == K::kNonNegativeInt && out.get<int64_t>() < 0) return fail(expected);
      if (kind == K::kPositiveInt && out.get<int64_t>() <= 0) return fail(expected);
      return out;
    }
    case K::kNumber:
      if (!value.is_number()) return fail("a number");
      return json(value.get<double>());
    case K::kString:
    case K::kNullableString:
      return value.is_string() ? value : fail(nullable ? "a string or null" : "a string");
    case K::kObject:
      return value.is_object() ? value : fail("an object");
    case K::kAny:
      return value;
  }
  return value;
}

json ResolveBlock(const json& in, const BlockSpec& spec, Diagnostics& diag) {
  json out = json::object();
  if (!in.is_null() && !in.is_object()) {
    diag.Error(spec.path, absl::StrCat("expected an object, got ", ShowValue(in)));
  }
  std::vector<std::string> names;
  for (const KeySpec& key : spec.keys) {
    out[key.name] = json::parse(key.default_json);
    names.push_back(key.name);
  }
  if (!in.is_object()) return out;
  std::map<std::string, std::string> given;  // canonical -> spelling used
  for (const auto& [name, value] : in.items()) {
    const std::string path = JoinPath(spec.path, name);
    if (const char* removed = RemovedKeyMessage(spec.path, name)) {
      diag.Error(path, absl::StrCat(removed, " (DeepSpeed 0.19.8 rejects the key); remove it"));
      continue;
    }
    const KeySpec* key = FindKeySpec(spec, name);
    if (key == nullptr) {
      std::string message = absl::StrCat("unknown key", DidYouMean(name, names));
      if (spec.strict) {
        diag.Error(path, absl::StrCat(message, "; DeepSpeed rejects unknown keys in ",
                                      spec.path, " too"));
      } else {
        diag.Warning(path, absl::StrCat(message, "; ignored"));
      }
      continue;
    }
    auto [it, inserted] = given.emplace(key->name, name);
    if (!inserted) {
      diag.Error(path, absl::StrCat("duplicates ", JoinPath(spec.path, it->second),
                                    " (an alias of the same key)"));
      continue;
    }
    if (spec.strict && IsAuto(value)) continue;  // DeepSpeed drops "auto": default stays
    json coerced = CoerceValue(value, key->kind, path, diag, /*lax=*/spec.strict);
    if (coerced.is_null() && !value.is_null()) continue;
    if (*key->choices != '\0' && coerced.is_string()) {
      std::vector<std::string> choices = absl::StrSplit(key->choices, '|');
      if (std::find(choices.begin(), choices.end(), coerced.get<std::string>()) == choices.end()) {
        diag.Error(path, absl::StrCat("expected one of ", absl::StrJoin(choices, ", "), ", got ",
                                      ShowValue(coerced)));
        continue;
      }
    }
    if (coerced != json::parse(key->default_json)) ApplySupport(*key, path, coerced, diag);
    out[key->name] = std::move(coerced);
  }
  return out;
}

}  // namespace zt::configs
