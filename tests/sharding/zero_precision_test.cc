// Mixed precision across real processes (Gloo): fp16 dynamic loss scaling with DeepSpeed's
// algorithm when one rank's gradients overflow in a fixed pattern (every rank skips the same
// steps, the scale follows the exact sequence, hysteresis included, skipped steps leave the
// parameters and Adam's step count alone), and bf16 parameters with fp32 masters
// (check_grad_overflow skips a step whose gradients hold inf); the same two at ZeRO stage 3.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sharding/collectives/gloo_communicator.h"
#include "sharding/zero/zero3_optimizer.h"
#include "sharding/zero/zero3_parameters.h"
#include "sharding/zero/zero_engine.h"
#include "tests/sharding/gloo_test_ranks.h"
#include "tests/sharding/zero3_test_model.h"
#include "tests/sharding/zero_test_model.h"
#include "tests/support/rank_processes.h"

namespace zt::sharding {
namespace {

using testing::MlpSpec;
using testing::TrainSpec;

at::Tensor FlatCopy(const std::vector<NamedParameter>& params) {
  std::vector<at::Tensor> flat;
  for (const NamedParameter& p : params) flat.push_back(p.tensor.detach().reshape({-1}).clone());
  return at::cat(flat);
}

at::Tensor Mse(const at::Tensor& pred, const at::Tensor& y) { return (pred - y).pow(2).mean(); }

using Forward = std::function<at::Tensor(const at::Tensor& x)>;

// One micro-step per optimizer step; `poison` turns this rank's loss into inf, so every one of
// its gradients is inf or NaN.
absl::StatusOr<StepResult> TrainStep(TrainingEngine& engine, const Forward& forward,
                                     const MlpSpec& spec, const TrainSpec& train, int step,
                                     int rank, int world, bool poison) {
  testing::Batch batch = testing::GlobalBatch(spec, train, world, step);
  at::Tensor x = batch.x.narrow(0, rank * train.micro_batch, train.micro_batch);
  at::Tensor y = batch.y.narrow(0, rank * train.micro_batch, train.micro_batch);
  at::Tensor loss = Mse(forward(x), y);
  if (poison) loss = loss * std::numeric_limits<double>::infinity();
  absl::Status backward = engine.Backward(loss, /*last_micro_batch=*/true);
  if (!backward.ok()) return backward;
  return engine.Step();
}

Forward MlpOf(const std::vector<NamedParameter>& params) {
  return [&params](const at::Tensor& x) { return testing::MlpForward(params, x); };
}

// The MLP at ZeRO stage 3 (zero3_test_model.h) and its optimizer.
struct Zero3Mlp {
  std::vector<NamedParameter> params;  // placeholders once partitioned
  std::unique_ptr<Zero3Parameters> zero3;
  std::unique_ptr<Zero3Optimizer> optimizer;

  Zero3Mlp(const MlpSpec& spec, Zero3OptimizerOptions options, std::shared_ptr<Communicator> comm)
      : params(testing::MakeMlp(spec)), zero3(testing::PartitionMlp(params, std::move(comm))) {
    options.hf_decay_groups = false;
    absl::StatusOr<std::unique_ptr<Zero3Optimizer>> o = Zero3Optimizer::Create(zero3.get(), options);
    EXPECT_TRUE(o.ok()) << o.status();
    if (o.ok()) optimizer = std::move(*o);
  }
  Forward forward() {
    return [this](const at::Tensor& x) { return testing::Zero3MlpForward(*zero3, x); };
  }
  std::vector<NamedParameter> Gathered() { return testing::GatheredMlp(*zero3); }
};

// The bf16 tests' 6 steps; rank 0 poisons step 2, which check_grad_overflow skips.
TrainSpec Bf16Train() {
  TrainSpec train;
  train.steps = 6;
  train.optimizer.lr = 1e-2;
  train.optimizer.weight_decay = 0.01;
  train.gradient_clipping = 1.0;
  train.skipped_steps = {2};
  return train;
}

// DeepSpeed's DynamicLossScaler with scale 2^4, window 2, hysteresis 2 over this overflow
// pattern (docs/training.md), worked by hand: the first overflow only spends hysteresis, the
// second halves; a clean step does not refill hysteresis (consecutive_hysteresis false), so the
// overflows at steps 4-6 halve every time; the (window+1)-th clean step after the last
// overflow doubles and refills; step 11's overflow then only spends hysteresis again.
constexpr bool kOverflowOnRank1[] = {0, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 1};
constexpr double kScaleUsed[] = {16, 16, 16, 8, 8, 4, 2, 1, 1, 1, 2, 2};
constexpr double kScaleAfter = 2;

// The 12 steps of the pattern above on any engine: scale used, applied or skipped (the
// parameters, as `current` returns them, unchanged on a skip), Adam's step count.
void ExpectFp16SkipSequence(TrainingEngine& engine, const Forward& forward,
                            const std::function<std::vector<NamedParameter>()>& current,
                            const MlpSpec& spec, const TrainSpec& train, int rank, int world) {
  int64_t applied = 0;
  for (int step = 0; step < 12; ++step) {
    SCOPED_TRACE(absl::StrCat("step ", step));
    const bool overflow = kOverflowOnRank1[step];
    const at::Tensor before = FlatCopy(current());
    absl::StatusOr<StepResult> result =
        TrainStep(engine, forward, spec, train, step, rank, world, overflow && rank == 1);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->loss_scale, kScaleUsed[step]);
    EXPECT_EQ(result->applied, !overflow);
    if (!overflow) ++applied;
    EXPECT_EQ(result->optimizer_step, applied);
    EXPECT_EQ(at::equal(before, FlatCopy(current())), overflow);
    if (!overflow) EXPECT_TRUE(std::isfinite(result->grad_norm) && result->grad_norm > 0);
  }
}

// The applied steps are Adam steps 1..6 on the clean batches: the fp32 reference trains those
// batches only (fp16 parameters round at 2^-11, hence the tolerance the tests use).
std::vector<at::Tensor> Fp16Reference(const MlpSpec& spec, const TrainSpec& train, int world) {
  MlpSpec fp32 = spec;
  fp32.dtype = at::kFloat;
  TrainSpec reference = train;
  reference.steps = 12;
  reference.gradient_clipping = 1.0;
  for (int step = 0; step < 12; ++step) {
    if (kOverflowOnRank1[step]) reference.skipped_steps.push_back(step);
  }
  return testing::ReferenceTrain(fp32, reference, world);
}

TEST(ZeroPrecisionTest, Fp16LossScalingSkipsOneRanksOverflowsOnEveryRank) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::shared_ptr<Communicator> comm = testing::ConnectGlooRank(*rank, "zero-precision-test");
    ASSERT_NE(comm, nullptr);
    MlpSpec spec;
    spec.dtype = at::kHalf;
    TrainSpec train;
    train.optimizer.lr = 1e-2;
    for (int stage : {1, 2}) {
      SCOPED_TRACE(absl::StrCat("stage ", stage));
      std::vector<NamedParameter> params = testing::MakeMlp(spec);
      ZeroEngineOptions options;
      options.stage = stage;
      options.reduce_bucket_numel = 40;
      options.precision = Precision::kFp16;
      options.optimizer = train.optimizer;
      options.gradient_clipping = 1.0;
      options.loss_scaler.initial_scale_power = 4;
      options.loss_scaler.loss_scale_window = 2;
      options.loss_scaler.hysteresis = 2;
      absl::StatusOr<std::unique_ptr<ZeroEngine>> engine =
          ZeroEngine::Create({ParameterGroup{params, std::nullopt}}, options, comm);
      ASSERT_TRUE(engine.ok()) << engine.status();
      ExpectFp16SkipSequence(**engine, MlpOf(params), [&params] { return params; }, spec, train,
                             *rank, comm->Size());
      EXPECT_EQ((*engine)->loss_scale(), kScaleAfter);
      EXPECT_EQ((*engine)->skipped_steps(), 6);
      EXPECT_LE(testing::RelativeError(params, Fp16Reference(spec, train, comm->Size())), 5e-3);
    }
    return;
  }
  testing::RunGlooRanks(2, absl::Seconds(300));
}

TEST(ZeroPrecisionTest, Bf16ParametersWithFp32MastersTrackFp32Training) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::shared_ptr<Communicator> comm = testing::ConnectGlooRank(*rank, "zero-precision-test");
    ASSERT_NE(comm, nullptr);
    MlpSpec spec;
    spec.dtype = at::kBFloat16;
    const TrainSpec train = Bf16Train();
    for (bool offload : {false, true}) {
      SCOPED_TRACE(absl::StrCat("offload ", offload));
      std::vector<NamedParameter> params = testing::MakeMlp(spec);
      ZeroEngineOptions options;
      options.stage = 2;
      options.reduce_bucket_numel = 64;
      options.precision = Precision::kBf16;
      options.offload.offload = offload;
      options.optimizer = train.optimizer;
      options.gradient_clipping = train.gradient_clipping;
      absl::StatusOr<std::unique_ptr<ZeroEngine>> engine =
          ZeroEngine::Create({ParameterGroup{params, std::nullopt}}, options, comm);
      ASSERT_TRUE(engine.ok()) << engine.status();
      // fp32 master, exp_avg, exp_avg_sq and gradient per partition element (+ the bf16 host
      // copy the offloaded kernel writes).
      EXPECT_EQ((*engine)->OptimizerStateBytes(),
                (*engine)->PartitionNumel() * (16 + (offload ? 2 : 0)));
      for (int step = 0; step < train.steps; ++step) {
        absl::StatusOr<StepResult> result =
            TrainStep(**engine, MlpOf(params), spec, train, step, *rank, comm->Size(),
                      step == 2 && *rank == 0);
        ASSERT_TRUE(result.ok()) << result.status();
        EXPECT_EQ(result->applied, step != 2);
        EXPECT_EQ(result->loss_scale, 1.0);
      }
      for (const NamedParameter& p : params) EXPECT_EQ(p.tensor.scalar_type(), at::kBFloat16);
      MlpSpec fp32 = spec;
      fp32.dtype = at::kFloat;
      const double error =
          testing::RelativeError(params, testing::ReferenceTrain(fp32, train, comm->Size()));
      EXPECT_LE(error, 1e-2);
      EXPECT_GT(error, 0.0);
    }
    return;
  }
  testing::RunGlooRanks(2, absl::Seconds(300));
}

TEST(ZeroPrecisionTest, Fp16LossScalingAtStage3SkipsTheSameSteps) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::shared_ptr<Communicator> comm = testing::ConnectGlooRank(*rank, "zero-precision-test");
    ASSERT_NE(comm, nullptr);
    MlpSpec spec;
    spec.dtype = at::kHalf;
    TrainSpec train;
    train.optimizer.lr = 1e-2;
    Zero3OptimizerOptions options;
    options.optimizer = train.optimizer;
    options.gradient_clipping = 1.0;
    options.fp16 = true;
    options.loss_scaler.initial_scale_power = 4;
    options.loss_scaler.loss_scale_window = 2;
    options.loss_scaler.hysteresis = 2;
    Zero3Mlp mlp(spec, options, comm);
    ExpectFp16SkipSequence(*mlp.optimizer, mlp.forward(), [&mlp] { return mlp.Gathered(); },
                           spec, train, *rank, comm->Size());
    EXPECT_EQ(mlp.optimizer->loss_scale(), kScaleAfter);
    EXPECT_EQ(mlp.optimizer->skipped_steps(), 6);
    EXPECT_EQ(mlp.optimizer->StateCountersNow().loss_scaler.cur_scale, kScaleAfter);
    EXPECT_LE(testing::RelativeError(mlp.Gathered(), Fp16Reference(spec, train, comm->Size())),
              5e-3);
    return;
  }
  testing::RunGlooRanks(2, absl::Seconds(300));
}

TEST(ZeroPrecisionTest, Bf16AtStage3SkipsAStepWithInfAndTracksFp32Training) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::shared_ptr<Communicator> comm = testing::ConnectGlooRank(*rank, "zero-precision-test");
    ASSERT_NE(comm, nullptr);
    MlpSpec spec;
    spec.dtype = at::kBFloat16;
    const TrainSpec train = Bf16Train();
    Zero3OptimizerOptions options;
    options.optimizer = train.optimizer;
    options.gradient_clipping = train.gradient_clipping;
    Zero3Mlp mlp(spec, options, comm);
    for (int step = 0; step < train.steps; ++step) {
      absl::StatusOr<StepResult> result = TrainStep(*mlp.optimizer, mlp.forward(), spec, train,
                                                    step, *rank, comm->Size(), step == 2 && *rank == 0);
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_EQ(result->applied, step != 2);
      EXPECT_EQ(result->loss_scale, 1.0);
    }
    EXPECT_EQ(mlp.optimizer->skipped_steps(), 1);
    MlpSpec fp32 = spec;
    fp32.dtype = at::kFloat;
    const double error = testing::RelativeError(
        mlp.Gathered(), testing::ReferenceTrain(fp32, train, comm->Size()));
    EXPECT_LE(error, 1e-2);
    EXPECT_GT(error, 0.0);
    return;
  }
  testing::RunGlooRanks(2, absl::Seconds(300));
}

}  // namespace
}  // namespace zt::sharding
