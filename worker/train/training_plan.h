// How many optimizer steps a job runs and which samples each rank feeds each step, as the HF
// Trainer (transformers 5.x) counts them: an epoch is ceil(samples_per_rank / micro_batch)
// micro-batches (the DistributedSampler pads the sample list to a multiple of the world size),
// taken as ceil(micro_batches / gradient_accumulation_steps) optimizer steps of
// gradient_accumulation_steps micro-batches each, the last step of an epoch taking the
// micro-batches left (a short window; the loss normalisation counts what it has). max_steps > 0
// wins over num_train_epochs, and the data then cycles through further epochs (each with its
// own seeded permutation). gradient_accumulation_steps is the resolved ds_config's
// (job_config.h JobGradientAccumulation), the engine's and the plan's one source.
// The position after k steps is a pure function of k, so a resumed run continues with exactly
// the samples an uninterrupted run would have used.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "configs/training_arguments.h"
#include "worker/data/distributed_sampler.h"

namespace zt::worker::train {

class TrainingPlan {
 public:
  // InvalidArgument naming --num_train_epochs / --max_steps when the job has no step to run.
  // `gradient_accumulation_steps` >= 1 (InvalidArgument otherwise).
  static absl::StatusOr<TrainingPlan> Create(const configs::TrainingArguments& args,
                                             int64_t gradient_accumulation_steps,
                                             int64_t num_samples, const std::vector<int64_t>& lengths,
                                             int world_size, int rank);

  int64_t total_steps() const { return total_steps_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  // gradient_accumulation_steps: the micro-batches of a full step.
  int64_t micro_batches_per_step() const { return accumulation_; }
  int64_t micro_batches_per_epoch() const { return micro_batches_per_epoch_; }
  // Fractional epoch after `steps` optimizer steps (HF's "epoch" in logs: micro-batches
  // consumed / micro-batches per epoch).
  double EpochAt(int64_t steps) const;

  // This rank's sample indices for every micro-batch of optimizer step `step` (1-based):
  // gradient_accumulation_steps of them, fewer for the last step of an epoch.
  std::vector<std::vector<int64_t>> MicroBatches(int64_t step) const;
  // The first global sample index step `step` consumes (for checkpoints and logs).
  int64_t GlobalSampleIndex(int64_t step) const;

 private:
  TrainingPlan(data::DistributedSampler sampler, int64_t micro, int64_t accumulation, int world)
      : sampler_(std::move(sampler)), micro_(micro), accumulation_(accumulation), world_(world) {}

  data::DistributedSampler sampler_;
  int64_t micro_ = 1;
  int64_t accumulation_ = 1;
  int world_ = 1;
  int64_t micro_batches_per_epoch_ = 0;
  int64_t steps_per_epoch_ = 0;
  int64_t total_steps_ = 0;
  // Epoch permutations are recomputed on demand; cached for the epoch in use.
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<int64_t> cached_indices_;
};

}  // namespace zt::worker::train
