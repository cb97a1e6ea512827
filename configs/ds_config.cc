#include "configs/ds_config.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "configs/batch_size.h"
#include "configs/ds_config_typed.h"
#include "configs/ds_optimizer.h"
#include "configs/ds_schema.h"
#include "configs/hf_auto.h"
#include "configs/json_reader.h"

namespace zt::configs {
namespace {

using nlohmann::json;

// Top-level feature blocks zerotune does not implement: an error when enabled.
const char* const kFeatureBlocks[] = {
    "compile",           "hybrid_engine",   "pipeline",        "autotuning", "data_efficiency",
    "weight_quantization", "expert_parallel", "datastates", "torch_autocast"};
// Blocks that only log: one warning when enabled.
const char* const kLoggingBlocks[] = {"tensorboard", "csv_monitor", "wandb", "comet",
                                      "comms_logger", "flops_profiler"};

bool Enabled(const json& block) {
  return block.is_object() && block.contains("enabled") && block["enabled"] == true;
}

// The legacy forms DeepSpeed still accepts, rewritten to the current ones.
void RewriteLegacy(json& config, Diagnostics& diag) {
  if (config.contains("zero_optimization") && config["zero_optimization"].is_boolean()) {
    const bool on = config["zero_optimization"].get<bool>();
    diag.Warning("zero_optimization", absl::StrCat("the boolean form is deprecated; read as "
                                                   "{\"stage\": ", on ? 1 : 0, "}"));
    config["zero_optimization"] = {{"stage", on ? 1 : 0}};
  }
  if (config.contains("bfloat16") && config.contains("bf16")) {
    diag.Error("bfloat16", "given together with bf16 (its newer name); keep one");
  }
}

// Top-level scalars that may still be "auto" or arbitrary JSON after the HF resolution.
std::optional<int64_t> OptionalInt(const json& top, const char* key, Diagnostics& diag) {
  const json& v = top[key];
  if (v.is_null()) return std::nullopt;
  if (v.is_string() && v.get<std::string>() == "auto") {
    diag.Error(key, "\"auto\" is resolved only from training arguments (HF Trainer semantics)");
    return std::nullopt;
  }
  json c = CoerceValue(v, ValueKind::kInt, key, diag);
  if (c.is_null()) return std::nullopt;
  return c.get<int64_t>();
}

json ResolveZero(const json& raw, Diagnostics& diag) {
  json zero = ResolveBlock(raw, *FindBlockSpec("zero_optimization"), diag);
  for (const char* key : {"offload_optimizer", "offload_param"}) {
    const std::string path = absl::StrCat("zero_optimization.", key);
    zero[key] = ResolveBlock(zero[key], *FindBlockSpec(path), diag);
  }
  // Deprecated spellings of the offload blocks.
  const bool explicit_opt = raw.is_object() && raw.contains("offload_optimizer");
  const bool explicit_param = raw.is_object() && raw.contains("offload_param");
  if (zero["cpu_offload"] == true) {
    diag.Warning("zero_optimization.cpu_offload",
                 "deprecated; read as offload_optimizer.device \"cpu\"");
    if (!explicit_opt) zero["offload_optimizer"]["device"] = "cpu";
  }
  if (zero["cpu_offload_param"] == true) {
    diag.Warning("zero_optimization.cpu_offload_param",
                 "deprecated; read as offload_param.device \"cpu\"");
    if (!explicit_param) zero["offload_param"]["device"] = "cpu";
  }
  for (const char* key : {"cpu_offload", "cpu_offload_param", "cpu_offload_use_pin_memory"}) {
    zero.erase(key);
  }
  const json& stage = zero["stage"];
  if (stage.is_number_integer() && (stage.get<int64_t>() < 0 || stage.get<int64_t>() > 3)) {
    diag.Error("zero_optimization.stage",
               absl::StrCat(stage.dump(), " is not a ZeRO stage, expected 0, 1, 2 or 3 "
                                          "(Maximum supported ZeRO stage is 3)"));
    zero["stage"] = 0;
  }
  return zero;
}

void CheckZero(json& zero, Diagnostics& diag) {
  const int64_t stage = zero["stage"].get<int64_t>();
  for (const char* key : {"offload_optimizer", "offload_param"}) {
    const std::string path = absl::StrCat("zero_optimization.", key, ".device");
    if (zero[key]["device"] == "nvme") {
      diag.Error(path, "\"nvme\" is not supported by zerotune (none or cpu)");
    }
  }
  if (stage < 3 && zero["offload_param"]["device"] != "none") {
    diag.Warning("zero_optimization.offload_param",
                 absl::StrCat("is ignored below ZeRO stage 3 (DeepSpeed ignores it too); stage is ",
                              stage));
    zero["offload_param"]["device"] = "none";
  }
  if (stage == 0 && zero["offload_optimizer"]["device"] != "none") {
    diag.Error("zero_optimization.offload_optimizer",
               "needs ZeRO stage 1, 2 or 3 (stage 0 has no partitioned optimizer); stage is 0");
  }
  if (zero["allgather_bucket_size"].is_number_integer() &&
      zero["allgather_bucket_size"].get<int64_t>() % 2 != 0) {
    diag.Error("zero_optimization.allgather_bucket_size",
               absl::StrCat("must be a multiple of 2, got ", zero["allgather_bucket_size"].dump()));
  }
  if (zero["overlap_comm"].is_null()) zero["overlap_comm"] = stage == 3;
}

void CheckPrecision(const json& fp16, const json& bf16, Diagnostics& diag) {
  if (fp16["enabled"] == true && bf16["enabled"] == true) {
    diag.Error("fp16.enabled",
               "bfloat16 and fp16 modes cannot be simultaneously enabled (bf16.enabled is true)");
  }
  if (fp16["enabled"] != true) return;
  const double loss_scale = fp16["loss_scale"].is_number() ? fp16["loss_scale"].get<double>() : 0;
  if (loss_scale < 0) {
    diag.Error("fp16.loss_scale", absl::StrCat("must be >= 0 (0 = dynamic), got ",
                                               ShowValue(fp16["loss_scale"])));
  }
  if (loss_scale == 0) {
    for (const char* key : {"loss_scale_window", "min_loss_scale", "hysteresis"}) {
      if (fp16[key].is_number_integer() && fp16[key].get<int64_t>() <= 0) {
        diag.Error(absl::StrCat("fp16.", key),
                   absl::StrCat("must be > 0 with dynamic loss scaling, got ", fp16[key].dump()));
      }
    }
  }
}

void CheckGradientAveraging(const json& top, const json& zero, Diagnostics& diag) {
  const int64_t stage = zero["stage"].get<int64_t>();
  if (top["gradient_allreduce_op"] == "sum") {
    diag.Error("gradient_allreduce_op",
               stage == 3 ? "\"sum\" cannot be used with ZeRO stage 3 (zero_optimization.stage=3)"
                          : "\"sum\" is not supported by zerotune (only \"mean\")");
  }
  if (stage >= 2 && zero["reduce_scatter"] == true) {
    if (top["gradient_predivide_factor"].is_number() &&
        top["gradient_predivide_factor"].get<double>() != 1.0) {
      diag.Error("gradient_predivide_factor",
                 absl::StrCat(ShowValue(top["gradient_predivide_factor"]),
                              " cannot be used with zero_optimization.reduce_scatter=true at "
                              "ZeRO stage ", stage, " (expected 1.0)"));
    }
    if (top["prescale_gradients"] == true) {
      diag.Error("prescale_gradients",
                 absl::StrCat("true cannot be used with zero_optimization.reduce_scatter=true at "
                              "ZeRO stage ", stage));
    }
  }
  if (top["gradient_predivide_factor"].is_number() &&
      top["gradient_predivide_factor"].get<double>() <= 0) {
    diag.Error("gradient_predivide_factor", "must be > 0");
  }
}

WireDtype ResolveWireDtype(json& top, const json& fp16, const json& bf16, Diagnostics& diag) {
  const json& v = top["communication_data_type"];
  WireDtype dtype = fp16["enabled"] == true   ? WireDtype::kFp16
                    : bf16["enabled"] == true ? WireDtype::kBf16
                                              : WireDtype::kFp32;
  if (v.is_string()) {
    const std::string s = absl::AsciiStrToLower(v.get<std::string>());
    if (s == "fp16") dtype = WireDtype::kFp16;
    else if (s == "bf16" || s == "bfp16") dtype = WireDtype::kBf16;
    else if (s == "fp32") dtype = WireDtype::kFp32;
    else diag.Error("communication_data_type",
                    absl::StrCat("Invalid communication_data_type ", v.dump(),
                                 ", expected fp16, bf16 or fp32"));
  }
  top["communication_data_type"] =
      dtype == WireDtype::kFp16 ? "fp16" : dtype == WireDtype::kBf16 ? "bf16" : "fp32";
  return dtype;
}

void CheckOtherBlocks(json& top, const json& config, Diagnostics& diag) {
  for (const char* key : kFeatureBlocks) {
    if (Enabled(config.value(key, json()))) {
      diag.Error(absl::StrCat(key, ".enabled"), "true is not supported by zerotune");
    } else if (config.contains(key)) {
      diag.Warning(key, "not enabled; ignored");
    }
    top.erase(key);
  }
  for (const char* key : kLoggingBlocks) {
    if (Enabled(top.value(key, json()))) {
      diag.Warning(absl::StrCat(key, ".enabled"),
                   "true only changes DeepSpeed's logging; zerotune ignores it (metrics go to "
                   "metrics.jsonl, metrics.csv and trainer_state.json)");
    }
  }
  const json& tp = config.value("tensor_parallel", json());
  if (tp.is_object() && tp.contains("autotp_size") && tp["autotp_size"].is_number() &&
      tp["autotp_size"].get<double>() > 1) {
    diag.Error("tensor_parallel.autotp_size",
               absl::StrCat(tp["autotp_size"].dump(),
                            " is not supported by zerotune (data parallelism only; 1)"));
  }
  top.erase("tensor_parallel");
  top.erase("timers");
  top.erase("flops_profiler");
  top.erase("aio");
  top.erase("allgather_size");
  const json& dtypes = top["data_types"];
  const json& grad_accum = dtypes["grad_accum_dtype"];
  if (grad_accum.is_string() && grad_accum != "fp32") {
    const bool known = grad_accum == "fp16" || grad_accum == "bf16";
    diag.Error("data_types.grad_accum_dtype",
               known ? absl::StrCat(grad_accum.dump(), " is not supported by zerotune (fp32)")
                     : absl::StrCat("expected fp32, fp16 or bf16, got ", grad_accum.dump()));
  }
  const json& param_dtype = dtypes["param_dtype"];
  if (param_dtype.is_string()) {
    const std::string mode = top["fp16"]["enabled"] == true   ? "fp16"
                             : top["bf16"]["enabled"] == true ? "bf16"
                                                              : "fp32";
    if (param_dtype != mode) {
      diag.Error("data_types.param_dtype",
                 absl::StrCat(param_dtype.dump(), " must match the enabled precision mode \"",
                              mode, "\" (fp16.enabled / bf16.enabled)"));
    }
  }
  const std::string tag = absl::AsciiStrToLower(top["checkpoint"]["tag_validation"].get<std::string>());
  if (tag != "ignore" && tag != "warn" && tag != "fail") {
    diag.Error("checkpoint.tag_validation",
               absl::StrCat("expected Ignore, Warn or Fail, got ",
                            top["checkpoint"]["tag_validation"].dump()));
  }
}

void ResolveClipping(json& top, Diagnostics& diag) {
  const json clip = top["gradient_clipping"];
  json coerced = CoerceValue(clip, ValueKind::kNumber, "gradient_clipping", diag);
  if (coerced.is_number() && coerced.get<double>() < 0) {
    diag.Error("gradient_clipping", absl::StrCat("must be >= 0 (0 disables), got ", ShowValue(clip)));
  }
  top["gradient_clipping"] = coerced.is_null() ? json(1.0) : coerced;
}

void ResolveOptimizerAndScheduler(json& top, bool pending_steps_allowed, Diagnostics& diag) {
  const int stage = static_cast<int>(top["zero_optimization"]["stage"].get<int64_t>());
  if (!top["optimizer"].is_null()) {
    top["optimizer"] = ResolveOptimizerBlock(top["optimizer"], stage, diag);
  } else if (stage == 1 || stage == 2) {
    diag.Error("optimizer", absl::StrCat("zero stage ", stage, " requires an optimizer"));
  }
  if (top["scheduler"].is_null()) return;
  std::optional<double> lr;
  if (top["optimizer"].is_object() && top["optimizer"]["params"]["lr"].is_number()) {
    lr = top["optimizer"]["params"]["lr"].get<double>();
  }
  top["scheduler"] = ResolveSchedulerBlock(top["scheduler"], lr, pending_steps_allowed, diag);
}

// Sequence/data-parallel sizes and the batch triad for `world_size` data-parallel ranks. The
// triad is checked whenever its three keys read cleanly, whatever else is wrong, so every error
// is reported in one round.
void ResolveParallelism(json& top, int64_t world_size, Diagnostics& diag) {
  if (auto sp = OptionalInt(top, "sequence_parallel_size", diag); sp && *sp > 1) {
    diag.Error("sequence_parallel_size", absl::StrCat(*sp, " is not supported by zerotune (1)"));
  }
  if (auto dp = OptionalInt(top, "data_parallel_size", diag); dp && *dp != world_size) {
    diag.Error("data_parallel_size",
               absl::StrCat(*dp, " != the data-parallel world size ", world_size));
  }
  top.erase("sequence_parallel_size");
  top.erase("data_parallel_size");
  const size_t errors_before = diag.errors().size();
  auto tb = OptionalInt(top, "train_batch_size", diag);
  auto mb = OptionalInt(top, "train_micro_batch_size_per_gpu", diag);
  auto gas = OptionalInt(top, "gradient_accumulation_steps", diag);
  if (diag.errors().size() != errors_before) return;
  if (auto triad = ResolveBatchTriad(tb, mb, gas, world_size, diag)) {
    top["train_batch_size"] = triad->train_batch_size;
    top["train_micro_batch_size_per_gpu"] = triad->train_micro_batch_size_per_gpu;
    top["gradient_accumulation_steps"] = triad->gradient_accumulation_steps;
  }
}

}  // namespace

DsConfig ResolveDsConfig(const json& raw, const DsResolveOptions& options, Diagnostics& diag) {
  DsConfig out;
  if (!raw.is_object()) {
    diag.Error("", absl::StrCat("expected a JSON object at the top level, got ", raw.type_name()));
    return out;
  }
  json config = raw;
  RewriteLegacy(config, diag);
  if (options.args != nullptr) {
    ResolveHfAuto(config,
                  {options.args, options.world_size, options.hidden_size, options.num_training_steps},
                  diag);
  }
  json top = ResolveBlock(config, *FindBlockSpec(""), diag);  // "bfloat16" lands on "bf16"
  for (const char* block : {"fp16", "bf16", "tensorboard", "csv_monitor", "wandb", "comet",
                            "comms_logger", "activation_checkpointing", "data_types", "checkpoint"}) {
    top[block] = ResolveBlock(top[block], *FindBlockSpec(block), diag);
  }
  top["zero_optimization"] = ResolveZero(top["zero_optimization"], diag);
  CheckZero(top["zero_optimization"], diag);
  CheckPrecision(top["fp16"], top["bf16"], diag);
  CheckGradientAveraging(top, top["zero_optimization"], diag);
  ResolveWireDtype(top, top["fp16"], top["bf16"], diag);
  CheckOtherBlocks(top, config, diag);
  ResolveClipping(top, diag);
  ResolveOptimizerAndScheduler(top, options.args != nullptr, diag);
  ResolveParallelism(top, options.world_size, diag);
  out.warnings = diag.warnings();
  if (diag.has_errors()) return out;
  out.resolved = std::move(top);
  FillTypedConfig(out.resolved, out);
  return out;
}

absl::StatusOr<DsConfig> LoadDsConfig(const std::string& path, const DsResolveOptions& options) {
  absl::StatusOr<json> raw = ReadTolerantJsonFile(path);
  if (!raw.ok()) return raw.status();
  Diagnostics diag;
  DsConfig config = ResolveDsConfig(*raw, options, diag);
  if (diag.has_errors()) return diag.ToStatus(path);
  return config;
}

}  // namespace zt::configs
