// Learning-rate schedules with DeepSpeed's exact semantics (deepspeed/runtime/lr_schedules.py)
// and the HF Trainer's (transformers get_scheduler) for --lr_scheduler_type. Torch-free: a
// schedule maps a step index to a learning rate (and, for OneCycle, Adam's beta1).
//
// Step indexing, which differs between the two families and matters for exact resumes:
//  - DeepSpeed: t = last_batch_iteration starts at -1; the constructor already writes lr(-1)
//    into the optimizer and step() is called after each successful optimizer step, so
//    optimizer step k (1-based) runs with lr(t = k - 2): step 1 uses lr(-1), step 2 lr(0).
//  - HF (LambdaLR): optimizer step k (1-based) runs with base_lr * lambda(k - 1).
// LrForOptimizerStep(k) hides the difference: it is the lr the k-th successful optimizer step
// uses. Skipped (overflow) steps do not advance a schedule.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace zt::sharding {

class LrScheduler {
 public:
  virtual ~LrScheduler() = default;
  // The learning rate used by the k-th successful optimizer step, k >= 1.
  virtual double LrForOptimizerStep(int64_t k) const = 0;
  // Adam's beta1 for that step when the schedule cycles momentum (OneCycle), else nullopt.
  virtual std::optional<double> Beta1ForOptimizerStep(int64_t /*k*/) const { return std::nullopt; }
  // beta2 forced by the schedule (DeepSpeed's OneCycle writes 0.99), else nullopt.
  virtual std::optional<double> ForcedBeta2() const { return std::nullopt; }
  virtual std::string Name() const = 0;
};

enum class WarmupType { kLog, kLinear };

struct WarmupLrParams {
  double warmup_min_lr = 0.0;
  double warmup_max_lr = 1e-3;  // DeepSpeed >= 0.17.2 defaults to the optimizer's lr
  int64_t warmup_num_steps = 1000;
  WarmupType warmup_type = WarmupType::kLog;
};

struct WarmupDecayLrParams {
  WarmupLrParams warmup;
  int64_t total_num_steps = 0;  // required
};

struct WarmupCosineLrParams {
  int64_t total_num_steps = 0;  // required
  double warmup_min_ratio = 0.0;
  int64_t warmup_num_steps = 1000;
  double cos_min_ratio = 0.0001;
  WarmupType warmup_type = WarmupType::kLog;
  double base_lr = 1e-3;  // the optimizer's lr
};

struct OneCycleParams {
  double cycle_min_lr = 0.0;  // required
  double cycle_max_lr = 0.0;  // required
  double decay_lr_rate = 0.0;
  int64_t cycle_first_step_size = 2000;
  std::optional<int64_t> cycle_second_step_size;  // default: first
  int64_t cycle_first_stair_count = 0;
  std::optional<int64_t> cycle_second_stair_count;  // default: first
  int64_t decay_step_size = 0;
  bool cycle_momentum = true;
  double cycle_min_mom = 0.8;
  double cycle_max_mom = 0.9;
  double decay_mom_rate = 0.0;
};

struct LrRangeTestParams {
  double min_lr = 1e-3;
  int64_t step_size = 2000;
  double step_rate = 1.0;
  bool staircase = false;
};

// HF TrainingArguments' --lr_scheduler_type values zerotune implements.
enum class HfScheduleType { kLinear, kCosine, kConstant, kConstantWithWarmup };

struct HfScheduleParams {
  HfScheduleType type = HfScheduleType::kLinear;
  double base_lr = 5e-5;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // required by linear and cosine
};

// Each returns InvalidArgument naming the parameter (DeepSpeed's key names) for values
// DeepSpeed rejects (warmup_num_steps <= 0, cycle_first_step_size <= 0, ...).
absl::StatusOr<std::unique_ptr<LrScheduler>> MakeWarmupLr(const WarmupLrParams& params);
absl::StatusOr<std::unique_ptr<LrScheduler>> MakeWarmupDecayLr(const WarmupDecayLrParams& params);
absl::StatusOr<std::unique_ptr<LrScheduler>> MakeWarmupCosineLr(const WarmupCosineLrParams& params);
absl::StatusOr<std::unique_ptr<LrScheduler>> MakeOneCycle(const OneCycleParams& params);
absl::StatusOr<std::unique_ptr<LrScheduler>> MakeLrRangeTest(const LrRangeTestParams& params);
absl::StatusOr<std::unique_ptr<LrScheduler>> MakeHfSchedule(const HfScheduleParams& params);

// "linear", "cosine", "constant", "constant_with_warmup"; InvalidArgument listing them.
absl::StatusOr<HfScheduleType> ParseHfScheduleType(const std::string& name);

}  // namespace zt::sharding
