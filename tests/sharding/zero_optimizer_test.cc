// The optimizer pieces of the ZeRO engine in one process: the AdamW partition step (ATen and
// kernels/cpu_adamw) against torch::optim::AdamW / Adam, the fp64 global norm and overflow
// flag, the engine at world size 1 against the single-process reference, and the argument
// and config errors it reports.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "sharding/collectives/self_communicator.h"
#include "sharding/optim/adamw_step.h"
#include "sharding/zero/grad_norm.h"
#include "sharding/zero/zero_engine.h"
#include "tests/sharding/zero_test_model.h"

namespace zt::sharding {
namespace {

// `steps` AdamW/Adam steps on one tensor with fresh seeded gradients: ours vs LibTorch's.
double AdamWDistance(PartitionOptimizer& ours, at::ScalarType dtype, bool adamw_mode,
                     bool with_copy, int steps = 20) {
  at::manual_seed(3);
  const int64_t n = 1031;  // not a multiple of any vector width
  at::Tensor start = at::randn({n}, at::kDouble).to(dtype);
  at::Tensor param = start.clone(), m = at::zeros_like(start), v = at::zeros_like(start);
  at::Tensor copy = at::empty({n}, at::kBFloat16);
  at::Tensor torch_param = start.clone().requires_grad_();
  std::unique_ptr<torch::optim::Optimizer> reference;
  if (adamw_mode) {
    reference = std::make_unique<torch::optim::AdamW>(
        std::vector<at::Tensor>{torch_param},
        torch::optim::AdamWOptions(1e-2).betas({0.8, 0.95}).eps(1e-6).weight_decay(0.1));
  } else {
    reference = std::make_unique<torch::optim::Adam>(
        std::vector<at::Tensor>{torch_param},
        torch::optim::AdamOptions(1e-2).betas({0.8, 0.95}).eps(1e-6).weight_decay(0.1));
  }
  AdamWHyper hyper;
  hyper.lr = 1e-2;
  hyper.beta1 = 0.8;
  hyper.beta2 = 0.95;
  hyper.eps = 1e-6;
  hyper.weight_decay = 0.1;
  hyper.adamw_mode = adamw_mode;
  for (int t = 1; t <= steps; ++t) {
    at::Tensor grad = at::randn({n}, at::kDouble).to(dtype);
    hyper.step = t;
    AdamWTensors tensors{param, grad, m, v, with_copy ? copy : at::Tensor()};
    EXPECT_TRUE(ours.Step(tensors, hyper).ok());
    torch_param.mutable_grad() = grad.clone();
    reference->step();
  }
  if (with_copy) EXPECT_TRUE(at::equal(copy, param.to(at::kBFloat16)));
  const at::Tensor ref = torch_param.detach().to(at::kDouble);
  return (param.to(at::kDouble) - ref).norm().item<double>() / ref.norm().item<double>();
}

TEST(AdamWStepTest, AtenStepMatchesTorchAdamWAndAdamInFloat64) {
  EXPECT_LE(AdamWDistance(*MakeAtenAdamW(), at::kDouble, true, false), 1e-14);
  EXPECT_LE(AdamWDistance(*MakeAtenAdamW(), at::kDouble, false, false), 1e-14);
}

TEST(AdamWStepTest, CpuKernelMatchesTorchAdamWAndAdamInFloat32WithBf16Copy) {
  std::unique_ptr<PartitionOptimizer> kernel = MakeCpuKernelAdamW(1);
  EXPECT_LE(AdamWDistance(*kernel, at::kFloat, true, true), 1e-6);
  EXPECT_LE(AdamWDistance(*kernel, at::kFloat, false, false), 1e-6);
  EXPECT_EQ(kernel->Name().rfind("cpu_adamw/", 0), 0u) << kernel->Name();
  EXPECT_EQ(MakePartitionOptimizer(at::kFloat, at::kCPU)->Name().rfind("cpu_adamw/", 0), 0u);
  EXPECT_EQ(MakePartitionOptimizer(at::kDouble, at::kCPU)->Name(), "aten");
}

TEST(AdamWStepTest, WithoutBiasCorrectionTheFirstStepIsScaledByOneMinusBeta) {
  at::Tensor param = at::zeros({4}, at::kDouble), m = at::zeros({4}, at::kDouble),
             v = at::zeros({4}, at::kDouble), grad = at::full({4}, 2.0, at::kDouble);
  AdamWHyper hyper;
  hyper.bias_correction = false;
  hyper.eps = 0;
  ASSERT_TRUE(MakeAtenAdamW()->Step({param, grad, m, v, at::Tensor()}, hyper).ok());
  // m = 0.1 * 2, v = 0.001 * 4: p = -lr * 0.2 / sqrt(0.004).
  EXPECT_NEAR(param[0].item<double>(), -1e-3 * 0.2 / std::sqrt(0.004), 1e-15);
}

TEST(AdamWStepTest, KernelRejectsNonFloat32Tensors) {
  at::Tensor d = at::zeros({4}, at::kDouble);
  absl::Status status = MakeCpuKernelAdamW()->Step({d, d, d, d, at::Tensor()}, AdamWHyper());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  at::Tensor f = at::zeros({4}), short_grad = at::zeros({3});
  status = MakeAtenAdamW()->Step({f, short_grad, f, f, at::Tensor()}, AdamWHyper());
  EXPECT_NE(status.message().find("grad"), std::string::npos) << status;
}

TEST(AdamWStepTest, AdamWithoutAdamWModeFromTheConfigIsL2) {
  configs::OptimizerConfig config;
  config.type = "Adam";
  config.adamw_mode = false;
  config.weight_decay = 0.2;
  AdamWHyper hyper = AdamWHyperFromConfig(config);
  EXPECT_FALSE(hyper.adamw_mode);
  EXPECT_EQ(hyper.weight_decay, 0.2);
}

TEST(GradNormTest, SquaresAreSummedInFloat64AndNonFiniteIsMinusOne) {
  // Each tensor's squares (3e38) fit fp32, their sum (6e38) only fp64.
  at::Tensor a = at::full({3}, 1e19f), b = at::full({2}, 2.0f);
  at::Tensor sq = SquaredNormFp64({a, a, b});
  EXPECT_EQ(sq.scalar_type(), at::kDouble);
  const double big = static_cast<double>(1e19f);
  const double want = 6 * big * big + 8.0;
  EXPECT_NEAR(sq.item<double>(), want, 1e-7 * want);
  EXPECT_NEAR(*GlobalNorm(sq, nullptr, absl::InfiniteFuture()), std::sqrt(want),
              1e-7 * std::sqrt(want));
  at::Tensor bad = at::tensor({1.0f, std::numeric_limits<float>::infinity()});
  EXPECT_EQ(*GlobalNorm(SquaredNormFp64({bad}), nullptr, absl::InfiniteFuture()), -1.0);
  EXPECT_TRUE(*GlobalOverflow(NonFiniteFlag({b, bad}), nullptr, absl::InfiniteFuture()));
  EXPECT_FALSE(*GlobalOverflow(NonFiniteFlag({a, b}), nullptr, absl::InfiniteFuture()));
}

TEST(ZeroEngineTest, WorldSizeOneStagesMatchTheReference) {
  testing::MlpSpec spec;
  testing::TrainSpec train;
  train.gradient_accumulation_steps = 2;
  train.optimizer.lr = 1e-2;
  train.optimizer.weight_decay = 0.1;
  train.gradient_clipping = 0.3;
  std::vector<at::Tensor> reference = testing::ReferenceTrain(spec, train, 1);
  for (int stage : {0, 1, 2}) {
    std::vector<NamedParameter> params = testing::MakeMlp(spec);
    ZeroEngineOptions options;
    options.stage = stage;
    options.reduce_bucket_numel = 50;
    options.gradient_clipping = train.gradient_clipping;
    options.optimizer = train.optimizer;
    absl::StatusOr<std::unique_ptr<ZeroEngine>> engine = ZeroEngine::Create(
        {ParameterGroup{params, std::nullopt}}, options, std::make_shared<SelfCommunicator>());
    ASSERT_TRUE(engine.ok()) << engine.status();
    std::vector<StepResult> steps = testing::EngineTrain(**engine, params, spec, train, 0, 1);
    ASSERT_EQ(steps.size(), 4u);
    EXPECT_GT(steps[0].grad_norm, train.gradient_clipping);  // clipping binds
    EXPECT_LE(testing::RelativeError(params, reference), 1e-12) << "stage " << stage;
  }
}

TEST(ZeroEngineTest, RejectsUnsupportedStagesAndMismatchedParametersByName) {
  auto comm = std::make_shared<SelfCommunicator>();
  std::vector<NamedParameter> params = testing::MakeMlp(testing::MlpSpec());
  ZeroEngineOptions options;
  options.stage = 3;
  absl::Status status = ZeroEngine::Create({ParameterGroup{params, {}}}, options, comm).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("zero_optimization.stage is 3"), std::string::npos) << status;

  options.stage = 2;
  std::vector<NamedParameter> mixed = params;
  mixed[3].tensor = mixed[3].tensor.detach().to(at::kFloat).requires_grad_();
  status = ZeroEngine::Create({ParameterGroup{mixed, {}}}, options, comm).status();
  EXPECT_NE(status.message().find("layers.1.bias"), std::string::npos) << status;

  options.precision = Precision::kFp16;
  status =
      ZeroEngine::Create({ParameterGroup{testing::MakeMlp(testing::MlpSpec()), {}}}, options, comm)
          .status();
  EXPECT_NE(status.message().find("fp16.enabled"), std::string::npos) << status;

  options.precision = Precision::kFloat;
  std::vector<NamedParameter> frozen = testing::MakeMlp(testing::MlpSpec());
  frozen[0].tensor.requires_grad_(false);
  status = ZeroEngine::Create({ParameterGroup{frozen, {}}}, options, comm).status();
  EXPECT_NE(status.message().find("layers.0.weight"), std::string::npos) << status;
}

TEST(ZeroEngineTest, AFailedReductionIsReturnedByBackwardWithTheAbortReason) {
  auto comm = std::make_shared<SelfCommunicator>();
  std::vector<NamedParameter> params = testing::MakeMlp(testing::MlpSpec());
  ZeroEngineOptions options;
  options.stage = 2;
  absl::StatusOr<std::unique_ptr<ZeroEngine>> engine =
      ZeroEngine::Create({ParameterGroup{params, {}}}, options, comm);
  ASSERT_TRUE(engine.ok()) << engine.status();
  comm->Abort(absl::AbortedError("coordinator says rank 3 died"));
  at::Tensor x = at::randn({2, 6}, at::kDouble);
  absl::Status status =
      (*engine)->Backward(testing::MlpForward(params, x).pow(2).mean(), /*last_micro_batch=*/true);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_NE(status.message().find("rank 3 died"), std::string::npos) << status;
}

// The caller owns the window (training_engine.h): every stage steps exactly when told, and the
// order checks name what is wrong.
TEST(ZeroEngineTest, StepsWhenTheCallerClosesTheWindowAndRefusesOtherOrders) {
  for (int stage : {0, 1, 2}) {
    SCOPED_TRACE(absl::StrCat("stage ", stage));
    std::vector<NamedParameter> params = testing::MakeMlp(testing::MlpSpec());
    ZeroEngineOptions options;
    options.stage = stage;
    options.optimizer.lr = 1e-2;
    absl::StatusOr<std::unique_ptr<ZeroEngine>> engine = ZeroEngine::Create(
        {ParameterGroup{params, std::nullopt}}, options, std::make_shared<SelfCommunicator>());
    ASSERT_TRUE(engine.ok()) << engine.status();
    auto loss = [&] { return testing::MlpForward(params, at::randn({2, 6}, at::kDouble)).sum(); };
    absl::StatusOr<StepResult> early = (*engine)->Step();
    EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(early.status().message().find("no Backward at all"), std::string::npos)
        << early.status();
    const at::Tensor before = params[0].tensor.detach().clone();
    ASSERT_TRUE((*engine)->Backward(loss(), /*last_micro_batch=*/false).ok());
    EXPECT_EQ((*engine)->Step().status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ((*engine)->StateSlices().status().code(), absl::StatusCode::kFailedPrecondition);
    ASSERT_TRUE((*engine)->Backward(loss(), /*last_micro_batch=*/true).ok());
    absl::Status again = (*engine)->Backward(loss(), /*last_micro_batch=*/true);
    EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(again.message().find("call Step() first"), std::string::npos) << again;
    absl::StatusOr<StepResult> step = (*engine)->Step();
    ASSERT_TRUE(step.ok()) << step.status();
    EXPECT_TRUE(step->applied);
    EXPECT_EQ(step->optimizer_step, 1);
    EXPECT_DOUBLE_EQ(step->lr, 1e-2);
    EXPECT_GT(step->grad_norm, 0.0);
    EXPECT_FALSE(at::equal(before, params[0].tensor.detach()));
    EXPECT_TRUE((*engine)->StateSlices().ok());
    // A window of one micro-batch steps again at once.
    ASSERT_TRUE((*engine)->Backward(loss(), /*last_micro_batch=*/true).ok());
    step = (*engine)->Step();
    ASSERT_TRUE(step.ok()) << step.status();
    EXPECT_EQ(step->optimizer_step, 2);
  }
}

TEST(ZeroEngineTest, OptionsFromDsConfig) {
  configs::DsConfig config;
  config.zero.stage = 2;
  config.zero.reduce_bucket_numel = 1234;
  config.zero.overlap_comm = true;
  config.zero.offload_optimizer.device = configs::OffloadDevice::kCpu;
  config.zero.offload_optimizer.pin_memory = false;
  config.gradient_accumulation_steps = 4;
  config.gradient_clipping = 0.7;
  config.fp16.enabled = true;
  config.fp16.initial_scale_power = 12;
  config.fp16.hysteresis = 3;
  config.optimizer.type = "Adam";
  config.optimizer.adamw_mode = false;
  absl::StatusOr<ZeroEngineOptions> options = ZeroEngineOptionsFromDsConfig(config);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->stage, 2);
  EXPECT_EQ(options->reduce_bucket_numel, 1234);
  EXPECT_TRUE(options->overlap_comm);
  EXPECT_TRUE(options->offload.offload);
  EXPECT_FALSE(options->offload.pin_memory);
  EXPECT_EQ(options->gradient_clipping, 0.7);
  EXPECT_EQ(options->precision, Precision::kFp16);
  EXPECT_EQ(options->loss_scaler.initial_scale_power, 12);
  EXPECT_EQ(options->loss_scaler.hysteresis, 3);
  EXPECT_FALSE(options->optimizer.adamw_mode);

  config.zero.stage = 3;
  EXPECT_NE(ZeroEngineOptionsFromDsConfig(config).status().message().find("stage"),
            std::string::npos);
  config.zero.stage = 1;
  config.optimizer.type = "Lion";
  EXPECT_NE(ZeroEngineOptionsFromDsConfig(config).status().message().find("optimizer.type"),
            std::string::npos);
}

}  // namespace
}  // namespace zt::sharding
