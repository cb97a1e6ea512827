// TrainingPlan counts steps as the HF Trainer does and hands every rank disjoint samples.
#include "worker/train/training_plan.h"

#include <gtest/gtest.h>

#include <set>

namespace zt::worker::train {
namespace {

// The accumulation is the plan's own argument (the resolved ds_config's), not a flag.
configs::TrainingArguments Args(int64_t micro, double epochs, int64_t max_steps = -1) {
  configs::TrainingArguments a;
  a.per_device_train_batch_size = micro;
  a.num_train_epochs = epochs;
  a.max_steps = max_steps;
  a.seed = 7;
  return a;
}

TEST(TrainingPlanTest, CountsStepsAsTheHfTrainer) {
  struct Case {
    int64_t samples, micro, accumulation;
    int world;
    double epochs;
    int64_t per_epoch, total;
  };
  // transformers 5.x (Trainer.set_initial_training_values): len(dataloader) =
  // ceil(ceil(n / W) / micro); per epoch max(1, ceil(len / GAS)); max_steps = ceil(epochs * per
  // epoch).
  for (const Case& c : {Case{64, 8, 1, 2, 3.0, 4, 12}, Case{65, 8, 1, 2, 1.0, 5, 5},
                        Case{64, 8, 3, 1, 1.0, 3, 3}, Case{10, 8, 4, 1, 2.5, 1, 3},
                        Case{100, 4, 2, 4, 0.5, 4, 2}}) {
    absl::StatusOr<TrainingPlan> plan =
        TrainingPlan::Create(Args(c.micro, c.epochs), c.accumulation, c.samples, {}, c.world, 0);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->steps_per_epoch(), c.per_epoch) << c.samples << " samples";
    EXPECT_EQ(plan->total_steps(), c.total) << c.samples << " samples";
  }
}

TEST(TrainingPlanTest, LastWindowOfAnEpochTakesTheMicroBatchesLeft) {
  // 64 samples, micro 8: 8 micro-batches per epoch, accumulation 3: windows of 3, 3 and 2.
  absl::StatusOr<TrainingPlan> plan = TrainingPlan::Create(Args(8, 2.0), 3, 64, {}, 1, 0);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->total_steps(), 6);
  std::multiset<int64_t> epoch;
  for (int64_t step = 1; step <= 3; ++step) {
    const auto micro = plan->MicroBatches(step);
    EXPECT_EQ(micro.size(), step == 3 ? 2u : 3u) << "step " << step;
    for (const auto& batch : micro) epoch.insert(batch.begin(), batch.end());
  }
  EXPECT_EQ(std::set<int64_t>(epoch.begin(), epoch.end()).size(), 64u);
  EXPECT_EQ(plan->MicroBatches(4).size(), 3u);  // the next epoch starts a full window
  EXPECT_DOUBLE_EQ(plan->EpochAt(1), 3.0 / 8.0);
  EXPECT_DOUBLE_EQ(plan->EpochAt(3), 1.0);
  EXPECT_DOUBLE_EQ(plan->EpochAt(5), 1.75);
  EXPECT_EQ(TrainingPlan::Create(Args(8, 1.0), 0, 64, {}, 1, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TrainingPlanTest, MaxStepsWinsAndCyclesEpochs) {
  absl::StatusOr<TrainingPlan> plan = TrainingPlan::Create(Args(4, 1.0, 10), 1, 16, {}, 1, 0);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->total_steps(), 10);
  EXPECT_DOUBLE_EQ(plan->EpochAt(10), 2.5);
  // Epoch 2 (steps 5-8) is a fresh permutation of all 16 samples.
  std::multiset<int64_t> seen;
  for (int64_t step = 5; step <= 8; ++step) {
    const std::vector<std::vector<int64_t>> micro = plan->MicroBatches(step);
    seen.insert(micro[0].begin(), micro[0].end());
  }
  EXPECT_EQ(seen.size(), 16u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 16u);
}

TEST(TrainingPlanTest, RanksGetDisjointMicroBatchesCoveringTheEpoch) {
  std::multiset<int64_t> seen;
  for (int rank = 0; rank < 2; ++rank) {
    absl::StatusOr<TrainingPlan> plan = TrainingPlan::Create(Args(2, 1.0), 2, 16, {}, 2, rank);
    ASSERT_TRUE(plan.ok());
    ASSERT_EQ(plan->total_steps(), 2);
    for (int64_t step = 1; step <= 2; ++step) {
      const auto micro = plan->MicroBatches(step);
      ASSERT_EQ(micro.size(), 2u);
      for (const auto& batch : micro) {
        EXPECT_EQ(batch.size(), 2u);
        seen.insert(batch.begin(), batch.end());
      }
    }
  }
  EXPECT_EQ(seen.size(), 16u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 16u);
}

TEST(TrainingPlanTest, SameStepSameSamplesWhateverCameBefore) {
  absl::StatusOr<TrainingPlan> a = TrainingPlan::Create(Args(3, 4.0), 1, 20, {}, 1, 0);
  absl::StatusOr<TrainingPlan> b = TrainingPlan::Create(Args(3, 4.0), 1, 20, {}, 1, 0);
  ASSERT_TRUE(a.ok() && b.ok());
  for (int64_t step = 1; step <= a->total_steps(); ++step) a->MicroBatches(step);
  EXPECT_EQ(a->MicroBatches(9), b->MicroBatches(9));  // b never computed the earlier steps
  // 7 steps per epoch (ceil(20 / 3) micro-batches): step 7 starts at sample 18, step 8 at 20.
  EXPECT_EQ(a->GlobalSampleIndex(7), 18);
  EXPECT_EQ(a->GlobalSampleIndex(8), 20);
}

TEST(TrainingPlanTest, NoStepIsAnErrorNamingTheFlags) {
  absl::StatusOr<TrainingPlan> plan = TrainingPlan::Create(Args(4, 0.0), 1, 16, {}, 1, 0);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("--num_train_epochs 0"), std::string::npos)
      << plan.status();
}

}  // namespace
}  // namespace zt::worker::train
