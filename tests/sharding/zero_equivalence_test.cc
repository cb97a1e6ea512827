// ZeRO stages 0, 1 and 2 across real processes (Gloo) against a single-process reference that
// trains on the same global batch: with and without optimizer offload, with gradient
// accumulation, several buckets (parameters larger than a bucket included), weight decay and
// clipping that binds. float64: ||p - p_ref|| / ||p_ref|| <= 1e-10 after 4 steps;
// float32 (where offload runs kernels/cpu_adamw): <= 1e-5. Each rank computes the reference
// itself and checks its own (all-gathered, hence full) parameters.
#include <gtest/gtest.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sharding/collectives/gloo_communicator.h"
#include "sharding/zero/zero_engine.h"
#include "tests/sharding/gloo_test_ranks.h"
#include "tests/sharding/zero_test_model.h"
#include "tests/support/rank_processes.h"

namespace zt::sharding {
namespace {

using testing::MlpSpec;
using testing::TrainSpec;

TrainSpec BaseTrain(int64_t gas) {
  TrainSpec train;
  train.micro_batch = 2;
  train.gradient_accumulation_steps = gas;
  train.optimizer.lr = 1e-2;
  train.optimizer.weight_decay = 0.1;
  train.gradient_clipping = 0.25;  // binds at the first step (asserted below)
  return train;
}

ZeroEngineOptions EngineOptions(int stage, bool offload, const TrainSpec& train) {
  ZeroEngineOptions options;
  options.stage = stage;
  options.reduce_bucket_numel = 40;  // several buckets; layers.1.weight (144) alone in one
  options.offload.offload = offload;
  options.gradient_clipping = train.gradient_clipping;
  options.optimizer = train.optimizer;
  options.scheduler = train.scheduler;
  return options;
}

// Stage 0 keeps optimizer state for the whole (padded) flat buffer, stages 1-2 for 1/W of it:
// master, exp_avg, exp_avg_sq and gradient in the master dtype, and a gradient accumulator in
// the parameter dtype.
void ExpectPartitionSizes(const ZeroEngine& engine, const std::vector<NamedParameter>& params,
                          int stage, int world) {
  std::vector<int64_t> numels;
  for (const NamedParameter& p : params) numels.push_back(p.tensor.numel());
  const FlatLayout layout =
      *FlatLayout::Create(numels, FlatLayoutOptions{stage == 0 ? 1 : world, 40, 2});
  const int64_t element = params.front().tensor.element_size();
  EXPECT_EQ(engine.PartitionNumel(), layout.partition_numel());
  EXPECT_EQ(engine.OptimizerStateBytes(), 4 * element * layout.partition_numel());
  EXPECT_EQ(engine.GradientAccumulatorBytes(), element * layout.partition_numel());
  if (stage > 0) EXPECT_EQ(layout.partition_numel() * world, layout.flat_numel());
}

// Every stage x offload x accumulation combination on one communicator.
void ExpectEquivalence(std::shared_ptr<Communicator> comm, at::ScalarType dtype, double tolerance) {
  const int rank = comm->Rank(), world = comm->Size();
  MlpSpec spec;
  spec.dtype = dtype;
  for (int64_t gas : {1, 2}) {
    TrainSpec train = BaseTrain(gas);
    std::vector<at::Tensor> reference = testing::ReferenceTrain(spec, train, world);
    for (int stage : {0, 1, 2}) {
      for (bool offload : {false, true}) {
        SCOPED_TRACE(absl::StrCat("stage ", stage, " offload ", offload, " gas ", gas, " world ",
                                  world, " ", c10::toString(dtype)));
        std::vector<NamedParameter> params = testing::MakeMlp(spec);
        absl::StatusOr<std::unique_ptr<ZeroEngine>> engine = ZeroEngine::Create(
            testing::Groups(params, train), EngineOptions(stage, offload, train), comm);
        ASSERT_TRUE(engine.ok()) << engine.status();
        ExpectPartitionSizes(**engine, params, stage, world);
        std::vector<StepResult> steps =
            testing::EngineTrain(**engine, params, spec, train, rank, world);
        ASSERT_EQ(steps.size(), 4u);
        EXPECT_GT(steps[0].grad_norm, train.gradient_clipping);  // clipping binds
        EXPECT_EQ(steps[3].optimizer_step, 4);
        const double error = testing::RelativeError(params, reference);
        EXPECT_LE(error, tolerance);
        // The step moved the parameters well beyond the tolerance (the test can fail).
        EXPECT_GT(
            testing::RelativeError(params, testing::ReferenceTrain(spec, TrainSpec{0}, world)),
            1e3 * tolerance);
      }
    }
  }
}

TEST(ZeroEquivalenceTest, Float64StagesOffloadAccumulationAtWorldSize2) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::shared_ptr<Communicator> comm = testing::ConnectGlooRank(*rank, "zero-test");
    ASSERT_NE(comm, nullptr);
    ExpectEquivalence(comm, at::kDouble, 1e-10);
    return;
  }
  testing::RunGlooRanks(2, absl::Seconds(400));
}

TEST(ZeroEquivalenceTest, Float64StagesOffloadAccumulationAtWorldSize4) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::shared_ptr<Communicator> comm = testing::ConnectGlooRank(*rank, "zero-test");
    ASSERT_NE(comm, nullptr);
    ExpectEquivalence(comm, at::kDouble, 1e-10);
    return;
  }
  testing::RunGlooRanks(4, absl::Seconds(400));
}

TEST(ZeroEquivalenceTest, Float32StagesOffloadAccumulationAtWorldSizes2And4) {
  for (int world : {2, 4}) {
    if (std::optional<int> rank = zt::testing::ChildRank()) {
      if (zt::testing::ChildWorldSize() != world) continue;
      std::shared_ptr<Communicator> comm = testing::ConnectGlooRank(*rank, "zero-test");
      ASSERT_NE(comm, nullptr);
      ExpectEquivalence(comm, at::kFloat, 1e-5);
      return;
    }
    testing::RunGlooRanks(world, absl::Seconds(400));
  }
}

}  // namespace
}  // namespace zt::sharding
