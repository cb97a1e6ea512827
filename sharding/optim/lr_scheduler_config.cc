#include "sharding/optim/lr_scheduler_config.h"

#include <cmath>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace zt::sharding {
namespace {

// Reads scheduler.params.<key> into `out` when present; keeps the default otherwise.
class ParamReader {
 public:
  explicit ParamReader(const nlohmann::json& params) : params_(params) {}

  template <typename T>
  absl::Status Read(const char* key, T& out) const {
    if (!params_.is_object() || !params_.contains(key) || params_[key].is_null()) {
      return absl::OkStatus();
    }
    const nlohmann::json& v = params_[key];
    const bool ok = std::is_same_v<T, bool> ? v.is_boolean()
                    : std::is_same_v<T, std::string> ? v.is_string()
                                                     : v.is_number();
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "scheduler.params.", key, " is ", v.dump(),
          v.is_string() && v.get<std::string>() == "auto"
              ? " (an \"auto\" the job could not resolve)"
              : "; expected a value of DeepSpeed's type for it"));
    }
    out = v.get<T>();
    return absl::OkStatus();
  }

  template <typename T>
  absl::Status Read(const char* key, std::optional<T>& out) const {
    if (!params_.is_object() || !params_.contains(key) || params_[key].is_null()) {
      return absl::OkStatus();
    }
    T value{};
    ZT_RETURN_IF_ERROR(Read(key, value));
    out = value;
    return absl::OkStatus();
  }

  absl::Status ReadWarmupType(WarmupType& out) const {
    std::string text = out == WarmupType::kLog ? "log" : "linear";
    ZT_RETURN_IF_ERROR(Read("warmup_type", text));
    if (text != "log" && text != "linear") {
      return absl::InvalidArgumentError(absl::StrCat("scheduler.params.warmup_type is \"", text,
                                                     "\"; expected \"log\" or \"linear\""));
    }
    out = text == "log" ? WarmupType::kLog : WarmupType::kLinear;
    return absl::OkStatus();
  }

 private:
  const nlohmann::json& params_;
};

absl::Status ReadWarmup(const ParamReader& r, double optimizer_lr, WarmupLrParams& p) {
  p.warmup_max_lr = optimizer_lr;
  ZT_RETURN_IF_ERROR(r.Read("warmup_min_lr", p.warmup_min_lr));
  ZT_RETURN_IF_ERROR(r.Read("warmup_max_lr", p.warmup_max_lr));
  ZT_RETURN_IF_ERROR(r.Read("warmup_num_steps", p.warmup_num_steps));
  return r.ReadWarmupType(p.warmup_type);
}

absl::StatusOr<std::unique_ptr<LrScheduler>> MakeDeepSpeedScheduler(
    const configs::SchedulerConfig& s, double optimizer_lr) {
  const ParamReader r(s.params);
  if (s.type == "WarmupLR") {
    WarmupLrParams p;
    ZT_RETURN_IF_ERROR(ReadWarmup(r, optimizer_lr, p));
    return MakeWarmupLr(p);
  }
  if (s.type == "WarmupDecayLR") {
    WarmupDecayLrParams p;
    ZT_RETURN_IF_ERROR(ReadWarmup(r, optimizer_lr, p.warmup));
    ZT_RETURN_IF_ERROR(r.Read("total_num_steps", p.total_num_steps));
    return MakeWarmupDecayLr(p);
  }
  if (s.type == "WarmupCosineLR") {
    WarmupCosineLrParams p;
    p.base_lr = optimizer_lr;
    ZT_RETURN_IF_ERROR(r.Read("total_num_steps", p.total_num_steps));
    ZT_RETURN_IF_ERROR(r.Read("warmup_min_ratio", p.warmup_min_ratio));
    ZT_RETURN_IF_ERROR(r.Read("warmup_num_steps", p.warmup_num_steps));
    ZT_RETURN_IF_ERROR(r.Read("cos_min_ratio", p.cos_min_ratio));
    ZT_RETURN_IF_ERROR(r.ReadWarmupType(p.warmup_type));
    return MakeWarmupCosineLr(p);
  }
  if (s.type == "OneCycle") {
    OneCycleParams p;
    ZT_RETURN_IF_ERROR(r.Read("cycle_min_lr", p.cycle_min_lr));
    ZT_RETURN_IF_ERROR(r.Read("cycle_max_lr", p.cycle_max_lr));
    ZT_RETURN_IF_ERROR(r.Read("decay_lr_rate", p.decay_lr_rate));
    ZT_RETURN_IF_ERROR(r.Read("cycle_first_step_size", p.cycle_first_step_size));
    ZT_RETURN_IF_ERROR(r.Read("cycle_second_step_size", p.cycle_second_step_size));
    ZT_RETURN_IF_ERROR(r.Read("cycle_first_stair_count", p.cycle_first_stair_count));
    ZT_RETURN_IF_ERROR(r.Read("cycle_second_stair_count", p.cycle_second_stair_count));
    ZT_RETURN_IF_ERROR(r.Read("decay_step_size", p.decay_step_size));
    ZT_RETURN_IF_ERROR(r.Read("cycle_momentum", p.cycle_momentum));
    ZT_RETURN_IF_ERROR(r.Read("cycle_min_mom", p.cycle_min_mom));
    ZT_RETURN_IF_ERROR(r.Read("cycle_max_mom", p.cycle_max_mom));
    ZT_RETURN_IF_ERROR(r.Read("decay_mom_rate", p.decay_mom_rate));
    return MakeOneCycle(p);
  }
  if (s.type == "LRRangeTest") {
    LrRangeTestParams p;
    ZT_RETURN_IF_ERROR(r.Read("lr_range_test_min_lr", p.min_lr));
    ZT_RETURN_IF_ERROR(r.Read("lr_range_test_step_size", p.step_size));
    ZT_RETURN_IF_ERROR(r.Read("lr_range_test_step_rate", p.step_rate));
    ZT_RETURN_IF_ERROR(r.Read("lr_range_test_staircase", p.staircase));
    return MakeLrRangeTest(p);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "scheduler.type is \"", s.type,
      "\"; expected WarmupLR, WarmupDecayLR, WarmupCosineLR, OneCycle or LRRangeTest"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<LrScheduler>> MakeJobScheduler(const configs::DsConfig& ds,
                                                              const configs::TrainingArguments& args,
                                                              int64_t total_steps) {
  if (ds.scheduler.has_value()) return MakeDeepSpeedScheduler(*ds.scheduler, ds.optimizer.lr);
  HfScheduleParams p;
  ZT_ASSIGN_OR_RETURN(p.type, ParseHfScheduleType(args.lr_scheduler_type));
  p.base_lr = ds.optimizer.lr;
  p.total_steps = total_steps;
  // HF's get_warmup_steps (no DeepSpeed minimum of 1 here: the Trainer's own scheduler).
  p.warmup_steps = args.warmup_steps >= 1 ? static_cast<int64_t>(args.warmup_steps)
                   : args.warmup_steps > 0
                       ? static_cast<int64_t>(std::ceil(args.warmup_steps * total_steps))
                       : static_cast<int64_t>(std::ceil(args.warmup_ratio * total_steps));
  return MakeHfSchedule(p);
}

}  // namespace zt::sharding
