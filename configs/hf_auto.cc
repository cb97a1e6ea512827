#include "configs/hf_auto.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "configs/ds_schema.h"

namespace zt::configs {
namespace {

using nlohmann::json;

bool IsAuto(const json& v) { return v.is_string() && v.get<std::string>() == "auto"; }

// One ds_config key filled from training arguments.
class Filler {
 public:
  Filler(json& config, const AutoContext& context, Diagnostics& diag)
      : config_(config), args_(*context.args), diag_(diag) {}

  // Replaces "auto" at `path` (dotted, inside `config_`) with `value`; when the key holds a
  // concrete value and one of `flags` was set by the user and differs, reports the conflict.
  void Match(const std::string& path, const json& value, std::vector<const char*> flags) {
    json* slot = Find(path);
    if (slot == nullptr) return;
    if (IsAuto(*slot)) {
      *slot = value;
      return;
    }
    std::vector<std::string> set_flags;
    for (const char* flag : flags) {
      if (args_.IsSet(flag)) {
        set_flags.push_back(absl::StrCat("--", flag, " ", ArgumentValueText(args_, *FindArgumentSpec(flag))));
      }
    }
    if (set_flags.empty() || Equal(*slot, value)) return;
    const std::string gives =
        flags.size() > 1 ? absl::StrCat(" (which give ", ShowValue(value), ")") : "";
    diag_.Error(path, absl::StrCat(ShowValue(*slot), " conflicts with ",
                                   absl::StrJoin(set_flags, " and "), gives, "; set ", path,
                                   " to \"auto\" or make them agree"));
  }

  // Replaces "auto" at `path` with `value`, never checking a concrete value.
  void Fill(const std::string& path, const json& value) {
    json* slot = Find(path);
    if (slot != nullptr && IsAuto(*slot)) *slot = value;
  }

  // Warns when `path` still holds "auto".
  void WarnIfAuto(const std::string& path, const std::string& why) {
    json* slot = Find(path);
    if (slot != nullptr && IsAuto(*slot)) diag_.Warning(path, absl::StrCat("\"auto\" ", why));
  }

  json* Find(const std::string& path) {
    json* node = &config_;
    size_t start = 0;
    while (true) {
      size_t dot = path.find('.', start);
      std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!node->is_object() || !node->contains(key)) return nullptr;
      node = &(*node)[key];
      if (dot == std::string::npos) return node;
      start = dot + 1;
    }
  }

 private:
  static bool Equal(const json& a, const json& b) {
    if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
    if (a.is_array() && b.is_array() && a.size() == b.size()) {
      for (size_t i = 0; i < a.size(); ++i) {
        if (!Equal(a[i], b[i])) return false;
      }
      return true;
    }
    return a == b;
  }

  json& config_;
  const TrainingArguments& args_;
  Diagnostics& diag_;
};

void ResolveBatch(json& config, const AutoContext& context, Filler& filler) {
  const TrainingArguments& args = *context.args;
  const char* kTb = "train_batch_size";
  const char* kMb = "train_micro_batch_size_per_gpu";
  const char* kGas = "gradient_accumulation_steps";
  if (!config.contains(kTb) && !config.contains(kMb) && !config.contains(kGas)) {
    config[kMb] = "auto";
    config[kGas] = "auto";
  }
  filler.Match(kMb, args.per_device_train_batch_size, {"per_device_train_batch_size"});
  filler.Match(kGas, args.gradient_accumulation_steps, {"gradient_accumulation_steps"});
  // As the HF Trainer: the flags' product (world * per-device * accumulation), whatever the
  // file's own members say (those were matched against the flags above).
  int64_t per_step = 0, train_batch = 0;
  if (!__builtin_mul_overflow(static_cast<int64_t>(context.world_size),
                              args.per_device_train_batch_size, &per_step) &&
      !__builtin_mul_overflow(per_step, args.gradient_accumulation_steps, &train_batch)) {
    filler.Match(kTb, train_batch, {"per_device_train_batch_size", "gradient_accumulation_steps"});
  }
}

void ResolveOptimizer(json& config, const AutoContext& context, Filler& filler) {
  const TrainingArguments& args = *context.args;
  if (!config.contains("optimizer") || config["optimizer"].is_null()) {
    // The Trainer builds its own torch AdamW and lets ZeRO run it.
    config["optimizer"] = {{"type", "AdamW"},
                           {"params",
                            {{"lr", args.learning_rate},
                             {"betas", {args.adam_beta1, args.adam_beta2}},
                             {"eps", args.adam_epsilon},
                             {"weight_decay", args.weight_decay}}}};
    if (!config.contains("zero_allow_untested_optimizer")) {
      config["zero_allow_untested_optimizer"] = true;
    }
    return;
  }
  filler.Match("optimizer.params.lr", args.learning_rate, {"learning_rate"});
  filler.Match("optimizer.params.betas", json::array({args.adam_beta1, args.adam_beta2}),
               {"adam_beta1", "adam_beta2"});
  filler.Match("optimizer.params.eps", args.adam_epsilon, {"adam_epsilon"});
  filler.Match("optimizer.params.weight_decay", args.weight_decay, {"weight_decay"});
}

void ResolveScheduler(const AutoContext& context, Filler& filler) {
  const TrainingArguments& args = *context.args;
  filler.Fill("scheduler.params.warmup_min_lr", 0);
  filler.Match("scheduler.params.warmup_max_lr", args.learning_rate, {"learning_rate"});
  if (context.num_training_steps) {
    const int64_t steps = *context.num_training_steps;
    filler.Match("scheduler.params.total_num_steps", steps, {"max_steps"});
    filler.Match("scheduler.params.warmup_num_steps", WarmupSteps(args, steps),
                 {"warmup_steps", "warmup_ratio"});
  } else if (args.warmup_steps >= 1) {
    filler.Match("scheduler.params.warmup_num_steps", static_cast<int64_t>(args.warmup_steps),
                 {"warmup_steps"});
  }
  const std::string why =
      "is resolved at launch from the number of optimizer steps (known once the dataset is "
      "read; --max_steps gives it now)";
  filler.WarnIfAuto("scheduler.params.total_num_steps", why);
  filler.WarnIfAuto("scheduler.params.warmup_num_steps", why);
}

void ResolveZeroBuckets(json& /*config*/, const AutoContext& context, Filler& filler) {
  const char* keys[] = {"zero_optimization.reduce_bucket_size",
                        "zero_optimization.stage3_prefetch_bucket_size",
                        "zero_optimization.stage3_param_persistence_threshold"};
  if (!context.hidden_size) {
    for (const char* key : keys) {
      filler.WarnIfAuto(key,
                        "needs the model's hidden_size (--model_name_or_path); DeepSpeed's "
                        "default is used");
    }
    return;
  }
  const int64_t h = *context.hidden_size;
  filler.Fill(keys[0], h * h);
  json* stage = filler.Find("zero_optimization.stage");
  if (stage != nullptr && stage->is_number() && stage->get<double>() == 3) {
    filler.Fill(keys[1], static_cast<int64_t>(std::floor(0.9 * static_cast<double>(h * h))));
    filler.Fill(keys[2], 10 * h);
  }
}

void ResolvePrecision(json& config, const AutoContext& context, Filler& filler) {
  const TrainingArguments& args = *context.args;
  const bool has_bf16 = config.contains("bf16") || config.contains("bfloat16");
  const char* bf16_key = config.contains("bfloat16") ? "bfloat16" : "bf16";
  if (args.IsSet("bf16") && args.bf16 && !has_bf16) config["bf16"] = {{"enabled", true}};
  if (args.IsSet("fp16") && args.fp16 && !config.contains("fp16")) {
    config["fp16"] = {{"enabled", true}};
  }
  filler.Match("fp16.enabled", args.fp16, {"fp16"});
  filler.Match(absl::StrCat(bf16_key, ".enabled"), args.bf16, {"bf16"});
}

}  // namespace

int64_t WarmupSteps(const TrainingArguments& args, int64_t num_training_steps) {
  const double n = static_cast<double>(num_training_steps);
  int64_t steps = 0;
  if (args.warmup_steps >= 1) {
    steps = static_cast<int64_t>(args.warmup_steps);
  } else if (args.warmup_steps > 0) {
    steps = static_cast<int64_t>(std::ceil(n * args.warmup_steps));
  } else {
    steps = static_cast<int64_t>(std::ceil(n * args.warmup_ratio));
  }
  return std::max<int64_t>(1, steps);
}

void ResolveHfAuto(json& config, const AutoContext& context, Diagnostics& diag) {
  if (!config.is_object() || context.args == nullptr) return;
  Filler filler(config, context, diag);
  ResolveBatch(config, context, filler);
  // Beyond HF: an absent gradient_clipping follows --max_grad_norm (both default to 1.0).
  if (!config.contains("gradient_clipping")) config["gradient_clipping"] = "auto";
  filler.Match("gradient_clipping", context.args->max_grad_norm, {"max_grad_norm"});
  ResolveOptimizer(config, context, filler);
  ResolveScheduler(context, filler);
  ResolveZeroBuckets(config, context, filler);
  ResolvePrecision(config, context, filler);
  if (context.args->save_on_each_node) {
    if (!config.contains("checkpoint") || !config["checkpoint"].is_object()) {
      config["checkpoint"] = json::object();
    }
    config["checkpoint"]["use_node_local_storage"] = true;
  }
}

}  // namespace zt::configs
