#include "configs/ds_optimizer.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "configs/ds_schema.h"

namespace zt::configs {
namespace {

using nlohmann::json;

const std::vector<std::string> kDeepSpeedOptimizers = {
    "Adagrad", "Adam", "AdamW", "Lamb", "OneBitAdam", "ZeroOneAdam", "OneBitLamb",
    "MuAdam", "MuAdamW", "MuSGD", "Lion", "Muon"};
const std::vector<std::string> kTorchOptimizers = {
    "SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "ASGD", "LBFGS",
    "NAdam", "RAdam", "RMSprop", "Rprop", "SparseAdam"};
const std::vector<std::string> kDeepSpeedSchedulers = {"WarmupLR", "WarmupDecayLR",
                                                       "WarmupCosineLR", "OneCycle",
                                                       "LRRangeTest"};
const std::vector<std::string> kTorchSchedulers = {
    "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
    "ExponentialLR", "PolynomialLR", "CosineAnnealingLR", "ChainedScheduler", "SequentialLR",
    "ReduceLROnPlateau", "CyclicLR", "OneCycleLR", "CosineAnnealingWarmRestarts"};

struct ParamSpec {
  const char* name;
  ValueKind kind;
  const char* default_json;  // "" = required
};

// Adam/AdamW constructor arguments DeepSpeed accepts (DeepSpeedCPUAdam, FusedAdam, torch).
const std::vector<ParamSpec> kAdamParams = {
    {"lr", ValueKind::kNumber, "0.001"},          {"betas", ValueKind::kAny, "[0.9, 0.999]"},
    {"eps", ValueKind::kNumber, "1e-08"},         {"weight_decay", ValueKind::kNumber, "0.0"},
    {"bias_correction", ValueKind::kBool, "true"}, {"amsgrad", ValueKind::kBool, "false"},
    {"adam_w_mode", ValueKind::kBool, "true"},    {"torch_adam", ValueKind::kBool, "false"},
    {"fp32_optimizer_states", ValueKind::kBool, "true"},
    {"set_grad_none", ValueKind::kBool, "true"}};

std::vector<ParamSpec> SchedulerParams(const std::string& type) {
  const std::vector<ParamSpec> warmup = {{"warmup_min_lr", ValueKind::kNumber, "0.0"},
                                         {"warmup_max_lr", ValueKind::kNumber, "0.001"},
                                         {"warmup_num_steps", ValueKind::kInt, "1000"},
                                         {"warmup_type", ValueKind::kString, "\"log\""},
                                         {"last_batch_iteration", ValueKind::kInt, "-1"}};
  if (type == "WarmupLR") return warmup;
  if (type == "WarmupDecayLR") {
    std::vector<ParamSpec> p = {{"total_num_steps", ValueKind::kInt, ""}};
    p.insert(p.end(), warmup.begin(), warmup.end());
    return p;
  }
  if (type == "WarmupCosineLR") {
    return {{"total_num_steps", ValueKind::kInt, ""},
            {"warmup_min_ratio", ValueKind::kNumber, "0.0"},
            {"warmup_num_steps", ValueKind::kInt, "1000"},
            {"cos_min_ratio", ValueKind::kNumber, "0.0001"},
            {"warmup_type", ValueKind::kString, "\"log\""},
            {"last_batch_iteration", ValueKind::kInt, "-1"}};
  }
  if (type == "OneCycle") {
    return {{"cycle_min_lr", ValueKind::kNumber, ""},
            {"cycle_max_lr", ValueKind::kNumber, ""},
            {"decay_lr_rate", ValueKind::kNumber, "0.0"},
            {"cycle_first_step_size", ValueKind::kInt, "2000"},
            {"cycle_second_step_size", ValueKind::kNullableInt, "null"},
            {"cycle_first_stair_count", ValueKind::kInt, "0"},
            {"cycle_second_stair_count", ValueKind::kNullableInt, "null"},
            {"decay_step_size", ValueKind::kInt, "0"},
            {"cycle_momentum", ValueKind::kBool, "true"},
            {"cycle_min_mom", ValueKind::kNumber, "0.8"},
            {"cycle_max_mom", ValueKind::kNumber, "0.9"},
            {"decay_mom_rate", ValueKind::kNumber, "0.0"},
            {"last_batch_iteration", ValueKind::kInt, "-1"}};
  }
  return {{"lr_range_test_min_lr", ValueKind::kNumber, "0.001"},
          {"lr_range_test_step_size", ValueKind::kInt, "2000"},
          {"lr_range_test_step_rate", ValueKind::kNumber, "1.0"},
          {"lr_range_test_staircase", ValueKind::kBool, "false"},
          {"last_batch_iteration", ValueKind::kInt, "-1"}};
}

bool IsAuto(const json& v) { return v.is_string() && v.get<std::string>() == "auto"; }

// Fills `specs` into an object from `params`, reporting unknown and mistyped entries.
json ResolveParams(const json& params, const std::vector<ParamSpec>& specs,
                   const std::string& path, const std::string& owner, bool allow_pending_steps,
                   Diagnostics& diag) {
  json out = json::object();
  std::vector<std::string> names;
  for (const ParamSpec& spec : specs) {
    names.push_back(spec.name);
    out[spec.name] = *spec.default_json == '\0' ? json() : json::parse(spec.default_json);
  }
  if (!params.is_object()) {
    if (!params.is_null()) diag.Error(path, absl::StrCat("expected an object, got ", ShowValue(params)));
    return out;
  }
  for (const auto& [name, value] : params.items()) {
    const std::string key_path = JoinPath(path, name);
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      if (name == "max_grad_norm") {
        diag.Error(key_path,
                   "'max_grad_norm' is not supported as an optimizer parameter, please switch to "
                   "using the deepspeed parameter 'gradient_clipping'");
      } else {
        diag.Error(key_path, absl::StrCat("unknown parameter of ", owner, DidYouMean(name, names),
                                          "; DeepSpeed passes params to the constructor, which "
                                          "rejects it"));
      }
      continue;
    }
    const ParamSpec& spec = specs[it - names.begin()];
    if (IsAuto(value)) {
      const bool pending = name == "total_num_steps" || name == "warmup_num_steps";
      if (pending && allow_pending_steps) {
        out[name] = value;
      } else {
        diag.Error(key_path, "\"auto\" is resolved only from training arguments (HF Trainer "
                             "semantics); give a value");
      }
      continue;
    }
    json coerced = CoerceValue(value, spec.kind, key_path, diag);
    if (!coerced.is_null() || value.is_null()) out[name] = coerced;
  }
  for (const ParamSpec& spec : specs) {
    if (*spec.default_json == '\0' && out[spec.name].is_null()) {
      diag.Error(JoinPath(path, spec.name), absl::StrCat("required by ", owner, ", missing"));
    }
  }
  return out;
}

void CheckAdamParams(const json& p, const std::string& path, Diagnostics& diag) {
  const json& betas = p["betas"];
  bool betas_ok = betas.is_array() && betas.size() == 2;
  for (size_t i = 0; betas_ok && i < 2; ++i) {
    betas_ok = betas[i].is_number() && betas[i].get<double>() >= 0 && betas[i].get<double>() < 1;
  }
  if (!betas_ok) {
    diag.Error(JoinPath(path, "betas"),
               absl::StrCat("expected [beta1, beta2] with each in [0, 1), got ", betas.dump()));
  }
  if (p["lr"].is_number() && p["lr"].get<double>() < 0) {
    diag.Error(JoinPath(path, "lr"), absl::StrCat("must be >= 0, got ", ShowValue(p["lr"])));
  }
  if (p["eps"].is_number() && p["eps"].get<double>() <= 0) {
    diag.Error(JoinPath(path, "eps"), absl::StrCat("must be > 0, got ", ShowValue(p["eps"])));
  }
  if (p["weight_decay"].is_number() && p["weight_decay"].get<double>() < 0) {
    diag.Error(JoinPath(path, "weight_decay"),
               absl::StrCat("must be >= 0, got ", ShowValue(p["weight_decay"])));
  }
  if (p["amsgrad"] == true) {
    diag.Error(JoinPath(path, "amsgrad"), "true is not supported by zerotune (only false)");
  }
  if (p["fp32_optimizer_states"] == false) {
    diag.Error(JoinPath(path, "fp32_optimizer_states"),
               "false is not supported by zerotune (Adam moments are fp32)");
  }
}

}  // namespace

json ResolveOptimizerBlock(const json& in, int zero_stage, Diagnostics& diag) {
  if (!in.is_object()) {
    diag.Error("optimizer", absl::StrCat("expected an object, got ", ShowValue(in)));
    return json();
  }
  for (const auto& [name, value] : in.items()) {
    if (name != "type" && name != "params" && name != "legacy_fusion") {
      diag.Warning(JoinPath("optimizer", name),
                   absl::StrCat("unknown key", DidYouMean(name, {"type", "params", "legacy_fusion"}),
                                "; ignored"));
    }
  }
  if (!in.contains("type") || !in["type"].is_string()) {
    diag.Error("optimizer.type", absl::StrCat("expected an optimizer name such as \"AdamW\", got ",
                                              in.contains("type") ? ShowValue(in["type"]) : "nothing"));
    return json();
  }
  const std::string type = in["type"].get<std::string>();
  const std::string lower = absl::AsciiStrToLower(type);
  std::string canonical;
  for (const std::string& name : kDeepSpeedOptimizers) {
    if (absl::AsciiStrToLower(name) == lower) canonical = name;
  }
  if (canonical.empty() &&
      std::find(kTorchOptimizers.begin(), kTorchOptimizers.end(), type) != kTorchOptimizers.end()) {
    canonical = type;
  }
  if (canonical.empty()) {
    diag.Error("optimizer.type", absl::StrCat(ShowValue(in["type"]),
                                              " is not a supported DeepSpeed Optimizer",
                                              DidYouMean(type, kDeepSpeedOptimizers)));
    return json();
  }
  if (canonical != "Adam" && canonical != "AdamW") {
    std::string why;
    if (absl::StrContains(lower, "onebit") || lower == "zerooneadam") {
      why = absl::StrCat("; DeepSpeed also rejects 1-bit optimizers with ZeRO (stage ",
                         zero_stage, ")");
    }
    diag.Error("optimizer.type", absl::StrCat(ShowValue(in["type"]),
                                              " is not supported by zerotune (Adam or AdamW)", why));
    return json();
  }
  json out = {{"type", canonical}, {"legacy_fusion", false}};
  if (in.contains("legacy_fusion")) {
    out["legacy_fusion"] = CoerceValue(in["legacy_fusion"], ValueKind::kBool,
                                       "optimizer.legacy_fusion", diag);
  }
  out["params"] = ResolveParams(in.value("params", json::object()), kAdamParams,
                                "optimizer.params", canonical, false, diag);
  CheckAdamParams(out["params"], "optimizer.params", diag);
  return out;
}

json ResolveSchedulerBlock(const json& in, std::optional<double> optimizer_lr,
                           bool allow_pending_steps, Diagnostics& diag) {
  if (!in.is_object()) {
    diag.Error("scheduler", absl::StrCat("expected an object, got ", ShowValue(in)));
    return json();
  }
  if (!in.contains("type") || !in["type"].is_string()) {
    diag.Error("scheduler.type", "expected a scheduler name such as \"WarmupLR\"");
    return json();
  }
  const std::string type = in["type"].get<std::string>();
  if (std::find(kDeepSpeedSchedulers.begin(), kDeepSpeedSchedulers.end(), type) ==
      kDeepSpeedSchedulers.end()) {
    const bool torch = std::find(kTorchSchedulers.begin(), kTorchSchedulers.end(), type) !=
                       kTorchSchedulers.end();
    diag.Error("scheduler.type",
               torch ? absl::StrCat("\"", type, "\" is not supported by zerotune (one of ",
                                    absl::StrJoin(kDeepSpeedSchedulers, ", "),
                                    ", or --lr_scheduler_type without a scheduler block)")
                     : absl::StrCat("DeepSpeed does not recognize LR scheduler \"", type, "\"",
                                    DidYouMean(type, kDeepSpeedSchedulers)));
    return json();
  }
  std::vector<ParamSpec> specs = SchedulerParams(type);
  std::string max_lr_default;
  if (type == "WarmupLR" && optimizer_lr) {
    max_lr_default = json(*optimizer_lr).dump();  // default since DeepSpeed v0.17.2
    for (ParamSpec& spec : specs) {
      if (std::string(spec.name) == "warmup_max_lr") spec.default_json = max_lr_default.c_str();
    }
  }
  json params = ResolveParams(in.value("params", json::object()), specs, "scheduler.params", type,
                              allow_pending_steps, diag);
  if (params.contains("warmup_type") && params["warmup_type"] != "log" &&
      params["warmup_type"] != "linear") {
    diag.Error("scheduler.params.warmup_type",
               absl::StrCat("expected \"log\" or \"linear\", got ", params["warmup_type"].dump()));
  }
  for (const char* key : {"warmup_num_steps", "cycle_first_step_size", "lr_range_test_step_size"}) {
    if (params.contains(key) && params[key].is_number_integer() && params[key].get<int64_t>() <= 0) {
      diag.Error(JoinPath("scheduler.params", key),
                 absl::StrCat("must be a positive integer, got ", params[key].dump()));
    }
  }
  if (type == "WarmupDecayLR" && params["total_num_steps"].is_number_integer() &&
      params["warmup_num_steps"].is_number_integer() &&
      params["total_num_steps"].get<int64_t>() < params["warmup_num_steps"].get<int64_t>()) {
    diag.Warning("scheduler.params.total_num_steps",
                 absl::StrCat(params["total_num_steps"].dump(), " is less than warmup_num_steps ",
                              params["warmup_num_steps"].dump()));
  }
  return {{"type", type}, {"params", params}};
}

}  // namespace zt::configs
