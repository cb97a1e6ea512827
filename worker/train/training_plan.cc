#include "worker/train/training_plan.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace zt::worker::train {

absl::StatusOr<TrainingPlan> TrainingPlan::Create(const configs::TrainingArguments& args,
                                                  int64_t gradient_accumulation_steps,
                                                  int64_t num_samples,
                                                  const std::vector<int64_t>& lengths,
                                                  int world_size, int rank) {
  data::DistributedSampler::Options options;
  options.num_samples = num_samples;
  options.world_size = world_size;
  options.rank = rank;
  options.seed = static_cast<uint64_t>(args.seed);
  options.batch_size = args.per_device_train_batch_size;
  options.lengths = lengths;
  if (gradient_accumulation_steps < 1) {
    return absl::InvalidArgumentError(absl::StrCat("gradient_accumulation_steps is ",
                                                   gradient_accumulation_steps, "; expected >= 1"));
  }
  ZT_ASSIGN_OR_RETURN(data::DistributedSampler sampler, data::DistributedSampler::Create(options));
  TrainingPlan plan(std::move(sampler), args.per_device_train_batch_size,
                    gradient_accumulation_steps, world_size);
  const int64_t per_rank = plan.sampler_.num_samples_per_rank();
  plan.micro_batches_per_epoch_ = (per_rank + plan.micro_ - 1) / plan.micro_;
  plan.steps_per_epoch_ = std::max<int64_t>(
      1, (plan.micro_batches_per_epoch_ + plan.accumulation_ - 1) / plan.accumulation_);
  if (args.max_steps > 0) {
    plan.total_steps_ = args.max_steps;
  } else {
    plan.total_steps_ =
        static_cast<int64_t>(std::ceil(args.num_train_epochs * double(plan.steps_per_epoch_)));
  }
  if (plan.total_steps_ <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--num_train_epochs ", args.num_train_epochs, " with --max_steps ", args.max_steps,
        " leaves no optimizer step to run; set --max_steps > 0 or --num_train_epochs > 0"));
  }
  return plan;
}

double TrainingPlan::EpochAt(int64_t steps) const {
  if (steps <= 0) return 0.0;
  const int64_t epoch = (steps - 1) / steps_per_epoch_;
  const int64_t in_epoch = (steps - 1) % steps_per_epoch_ + 1;
  const int64_t consumed = std::min(in_epoch * accumulation_, micro_batches_per_epoch_);
  return static_cast<double>(epoch) +
         static_cast<double>(consumed) / static_cast<double>(micro_batches_per_epoch_);
}

std::vector<std::vector<int64_t>> TrainingPlan::MicroBatches(int64_t step) const {
  const int64_t epoch = (step - 1) / steps_per_epoch_;
  const int64_t step_in_epoch = (step - 1) % steps_per_epoch_;
  if (epoch != cached_epoch_) {
    cached_indices_ = sampler_.EpochIndices(epoch);
    cached_epoch_ = epoch;
  }
  std::vector<std::vector<int64_t>> out;
  const int64_t first = step_in_epoch * accumulation_;
  const int64_t count = std::min(accumulation_, micro_batches_per_epoch_ - first);
  for (int64_t m = 0; m < count; ++m) {
    const int64_t begin = (first + m) * micro_;
    const int64_t end = std::min<int64_t>(begin + micro_, cached_indices_.size());
    out.emplace_back(cached_indices_.begin() + begin, cached_indices_.begin() + end);
  }
  return out;
}

int64_t TrainingPlan::GlobalSampleIndex(int64_t step) const {
  const int64_t epoch = (step - 1) / steps_per_epoch_;
  const int64_t step_in_epoch = (step - 1) % steps_per_epoch_;
  const int64_t per_epoch = sampler_.num_samples_per_rank() * world_;
  return epoch * per_epoch + step_in_epoch * accumulation_ * micro_ * world_;
}

}  // namespace zt::worker::train
