#include "sharding/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace zt::sharding {
namespace {

constexpr double kPi = 3.14159265358979323846;

absl::Status BadParam(absl::string_view scheduler, absl::string_view key, absl::string_view value,
                      absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("scheduler.params.", key, "=", value, " (", scheduler, "): expected ", expected));
}

// DeepSpeed's warm-up fraction at t >= 0 with N = max(2, warmup_num_steps), t < N.
double WarmupGamma(int64_t t, int64_t n, WarmupType type) {
  if (type == WarmupType::kLog) return std::log(static_cast<double>(t + 1)) / std::log(static_cast<double>(n));
  return static_cast<double>(t) / static_cast<double>(n);
}

// The DeepSpeed family: lr as a function of last_batch_iteration t >= -1.
class DeepSpeedSchedule : public LrScheduler {
 public:
  double LrForOptimizerStep(int64_t k) const final { return LrAt(k - 2); }
  std::optional<double> Beta1ForOptimizerStep(int64_t k) const override { return Beta1At(k - 2); }

 protected:
  virtual double LrAt(int64_t t) const = 0;
  virtual std::optional<double> Beta1At(int64_t /*t*/) const { return std::nullopt; }
};

class WarmupLr : public DeepSpeedSchedule {
 public:
  explicit WarmupLr(const WarmupLrParams& p, std::optional<int64_t> total = std::nullopt)
      : p_(p), n_(std::max<int64_t>(2, p.warmup_num_steps)), total_(total) {}
  std::string Name() const override { return total_ ? "WarmupDecayLR" : "WarmupLR"; }

 protected:
  double LrAt(int64_t t) const override {
    if (t < 0) return p_.warmup_min_lr;
    double gamma = 1.0;
    if (t < n_) {
      gamma = WarmupGamma(t, n_, p_.warmup_type);
    } else if (total_) {
      gamma = std::max(0.0, static_cast<double>(*total_ - t) / std::max(1.0, static_cast<double>(*total_ - n_)));
    }
    return p_.warmup_min_lr + (p_.warmup_max_lr - p_.warmup_min_lr) * gamma;
  }

 private:
  WarmupLrParams p_;
  int64_t n_;
  std::optional<int64_t> total_;  // WarmupDecayLR's total_num_steps
};

class WarmupCosineLr : public DeepSpeedSchedule {
 public:
  explicit WarmupCosineLr(const WarmupCosineLrParams& p) : p_(p), n_(std::max<int64_t>(2, p.warmup_num_steps)) {}
  std::string Name() const override { return "WarmupCosineLR"; }

 protected:
  double LrAt(int64_t t) const override {
    if (t < 0) return 0.0;  // DeepSpeed writes lr 0 for the very first step
    double ratio;
    if (t < n_) {
      ratio = p_.warmup_min_ratio + WarmupGamma(t, n_, p_.warmup_type) * (1.0 - p_.warmup_min_ratio);
    } else {
      const double progress = std::min(1.0, static_cast<double>(t - n_ + 1) /
                                                std::max<double>(1.0, static_cast<double>(p_.total_num_steps - n_)));
      ratio = std::max(0.0, p_.cos_min_ratio + (1.0 - p_.cos_min_ratio) * (1.0 + std::cos(kPi * progress)) / 2.0);
    }
    return p_.base_lr * ratio;
  }

 private:
  WarmupCosineLrParams p_;
  int64_t n_;
};

class OneCycle : public DeepSpeedSchedule {
 public:
  explicit OneCycle(const OneCycleParams& p)
      : p_(p),
        first_(static_cast<double>(p.cycle_first_step_size)),
        second_(static_cast<double>(p.cycle_second_step_size.value_or(p.cycle_first_step_size))),
        total_(first_ + second_),
        ratio_(first_ / total_),
        second_stairs_(p.cycle_second_stair_count.value_or(p.cycle_first_stair_count)),
        skip_decay_(p.decay_step_size == 0) {}
  std::string Name() const override { return "OneCycle"; }
  std::optional<double> ForcedBeta2() const override {
    return p_.cycle_momentum ? std::optional<double>(0.99) : std::nullopt;
  }

 protected:
  double LrAt(int64_t t) const override {
    if (static_cast<double>(t) < total_) {
      return p_.cycle_min_lr + (p_.cycle_max_lr - p_.cycle_min_lr) * Scale(t);
    }
    if (skip_decay_ || p_.decay_lr_rate == 0.0) return p_.cycle_min_lr;
    const double interval = (static_cast<double>(t) - total_ + 1.0) / static_cast<double>(p_.decay_step_size);
    return p_.cycle_min_lr / (1.0 + p_.decay_lr_rate * interval);
  }

  std::optional<double> Beta1At(int64_t t) const override {
    if (!p_.cycle_momentum) return std::nullopt;
    if (t < 0) return p_.cycle_min_mom;  // the constructor writes (cycle_min_mom, 0.99)
    if (static_cast<double>(t) < total_) {
      return p_.cycle_max_mom - (p_.cycle_max_mom - p_.cycle_min_mom) * Scale(t);
    }
    if (skip_decay_ || p_.decay_mom_rate == 0.0) return p_.cycle_max_mom;
    const double interval = (static_cast<double>(t) - total_ + 1.0) / static_cast<double>(p_.decay_step_size);
    return p_.cycle_max_mom * (1.0 + p_.decay_mom_rate * interval);
  }

 private:
  // Position in the cycle in [0, 1]: up over the first half, down over the second.
  double Scale(int64_t t) const {
    const double batch = static_cast<double>(t + 1);
    const double cycle = std::floor(1.0 + batch / total_);
    const double x = 1.0 + batch / total_ - cycle;
    double scale;
    int64_t stairs;
    if (x <= ratio_) {
      scale = x / ratio_;
      stairs = p_.cycle_first_stair_count;
    } else {
      scale = (x - 1.0) / (ratio_ - 1.0);
      stairs = second_stairs_;
    }
    if (stairs > 0) {  // quantised from the integer batch offset, as DeepSpeed does
      const double in_cycle = std::fmod(batch, total_);
      const double position = in_cycle <= first_ ? in_cycle * stairs / first_ : (total_ - in_cycle) * stairs / second_;
      scale = std::floor(position) / static_cast<double>(stairs);
    }
    return scale;
  }

  OneCycleParams p_;
  double first_, second_, total_, ratio_;
  int64_t second_stairs_;
  bool skip_decay_;
};

class LrRangeTest : public DeepSpeedSchedule {
 public:
  explicit LrRangeTest(const LrRangeTestParams& p) : p_(p) {}
  std::string Name() const override { return "LRRangeTest"; }

 protected:
  double LrAt(int64_t t) const override {
    double interval = static_cast<double>(t + 1) / static_cast<double>(p_.step_size);
    if (p_.staircase) interval = std::floor(interval);
    return p_.min_lr * (1.0 + p_.step_rate * interval);
  }

 private:
  LrRangeTestParams p_;
};

// transformers' get_scheduler lambdas; optimizer step k uses lambda(k - 1).
class HfSchedule : public LrScheduler {
 public:
  explicit HfSchedule(const HfScheduleParams& p) : p_(p) {}
  std::string Name() const override {
    switch (p_.type) {
      case HfScheduleType::kLinear: return "linear";
      case HfScheduleType::kCosine: return "cosine";
      case HfScheduleType::kConstant: return "constant";
      case HfScheduleType::kConstantWithWarmup: return "constant_with_warmup";
    }
    return "unknown";
  }
  double LrForOptimizerStep(int64_t k) const override { return p_.base_lr * Lambda(k - 1); }

 private:
  double Lambda(int64_t s) const {
    const double w = static_cast<double>(p_.warmup_steps);
    if (p_.type == HfScheduleType::kConstant) return 1.0;
    if (s < p_.warmup_steps) return static_cast<double>(s) / std::max(1.0, w);
    const double remaining = std::max(1.0, static_cast<double>(p_.total_steps - p_.warmup_steps));
    switch (p_.type) {
      case HfScheduleType::kLinear:
        return std::max(0.0, static_cast<double>(p_.total_steps - s) / remaining);
      case HfScheduleType::kCosine: {
        const double progress = static_cast<double>(s - p_.warmup_steps) / remaining;
        return std::max(0.0, 0.5 * (1.0 + std::cos(kPi * 0.5 * 2.0 * progress)));  // num_cycles 0.5
      }
      default:
        return 1.0;
    }
  }

  HfScheduleParams p_;
};

absl::Status CheckWarmupSteps(absl::string_view scheduler, int64_t steps) {
  if (steps <= 0) return BadParam(scheduler, "warmup_num_steps", absl::StrCat(steps), "a positive integer");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LrScheduler>> MakeWarmupLr(const WarmupLrParams& params) {
  if (absl::Status s = CheckWarmupSteps("WarmupLR", params.warmup_num_steps); !s.ok()) return s;
  return std::unique_ptr<LrScheduler>(new WarmupLr(params));
}

absl::StatusOr<std::unique_ptr<LrScheduler>> MakeWarmupDecayLr(const WarmupDecayLrParams& params) {
  if (absl::Status s = CheckWarmupSteps("WarmupDecayLR", params.warmup.warmup_num_steps); !s.ok()) return s;
  if (params.total_num_steps <= 0) {
    return BadParam("WarmupDecayLR", "total_num_steps", absl::StrCat(params.total_num_steps), "a positive integer");
  }
  return std::unique_ptr<LrScheduler>(new WarmupLr(params.warmup, params.total_num_steps));
}

absl::StatusOr<std::unique_ptr<LrScheduler>> MakeWarmupCosineLr(const WarmupCosineLrParams& params) {
  if (absl::Status s = CheckWarmupSteps("WarmupCosineLR", params.warmup_num_steps); !s.ok()) return s;
  if (params.total_num_steps <= 0) {
    return BadParam("WarmupCosineLR", "total_num_steps", absl::StrCat(params.total_num_steps), "a positive integer");
  }
  return std::unique_ptr<LrScheduler>(new WarmupCosineLr(params));
}

absl::StatusOr<std::unique_ptr<LrScheduler>> MakeOneCycle(const OneCycleParams& params) {
  if (params.cycle_first_step_size <= 0) {
    return BadParam("OneCycle", "cycle_first_step_size", absl::StrCat(params.cycle_first_step_size), "> 0");
  }
  if (params.cycle_second_step_size && *params.cycle_second_step_size < 0) {
    return BadParam("OneCycle", "cycle_second_step_size", absl::StrCat(*params.cycle_second_step_size), ">= 0");
  }
  if (params.decay_step_size < 0) {
    return BadParam("OneCycle", "decay_step_size", absl::StrCat(params.decay_step_size), ">= 0");
  }
  return std::unique_ptr<LrScheduler>(new OneCycle(params));
}

absl::StatusOr<std::unique_ptr<LrScheduler>> MakeLrRangeTest(const LrRangeTestParams& params) {
  if (params.step_size <= 0) {
    return BadParam("LRRangeTest", "lr_range_test_step_size", absl::StrCat(params.step_size), "a positive integer");
  }
  return std::unique_ptr<LrScheduler>(new LrRangeTest(params));
}

absl::StatusOr<std::unique_ptr<LrScheduler>> MakeHfSchedule(const HfScheduleParams& params) {
  if (params.warmup_steps < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--warmup_steps=", params.warmup_steps, ": expected >= 0"));
  }
  const bool decays = params.type == HfScheduleType::kLinear || params.type == HfScheduleType::kCosine;
  if (decays && params.total_steps <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("a decaying --lr_scheduler_type needs the total number of "
                                                   "training steps, got ", params.total_steps));
  }
  return std::unique_ptr<LrScheduler>(new HfSchedule(params));
}

absl::StatusOr<HfScheduleType> ParseHfScheduleType(const std::string& name) {
  if (name == "linear") return HfScheduleType::kLinear;
  if (name == "cosine") return HfScheduleType::kCosine;
  if (name == "constant") return HfScheduleType::kConstant;
  if (name == "constant_with_warmup") return HfScheduleType::kConstantWithWarmup;
  return absl::InvalidArgumentError(absl::StrCat("--lr_scheduler_type=", name,
                                                 ": expected one of linear, cosine, constant, constant_with_warmup"));
}

}  // namespace zt::sharding
