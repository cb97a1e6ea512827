// ZeRO stages 1 and 2 (with and without offload, with accumulation) training the tiny Qwen2
// decoder of worker/model across real processes (Gloo): LoRA adapters on every linear (the
// base frozen and replicated) and full fine-tuning (tied embeddings, biases, norms), with
// gradient checkpointing, against a single-process reference on the same global batch:
// float64, ||p - p_ref|| / ||p_ref|| <= 1e-10 over the trainable parameters after 4 steps.
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sharding/collectives/gloo_communicator.h"
#include "sharding/zero/zero_engine.h"
#include "tests/sharding/gloo_test_ranks.h"
#include "tests/sharding/tiny_decoder_config.h"
#include "tests/support/rank_processes.h"
#include "worker/model/decoder.h"
#include "worker/model/lora_model.h"

namespace zt::sharding {
namespace {

using worker::model::Decoder;

constexpr int kSteps = 4;
constexpr int64_t kMicroBatch = 2;
constexpr int64_t kAccumulation = 2;
constexpr int64_t kSequence = 8;

using testing::TinyQwen2;

// The decoder with its trainable parameters (forward order, HF/PEFT-inner names).
struct Model {
  std::unique_ptr<Decoder> decoder;
  std::vector<NamedParameter> trainable;
};

Model MakeModel(bool lora) {
  Model model;
  model.decoder = std::make_unique<Decoder>(*Decoder::RandomInit(TinyQwen2(), 5, at::kDouble));
  if (lora) {
    worker::model::LoraOptions options;
    options.r = 4;
    options.lora_alpha = 8;
    options.target_modules.kind = configs::LoraTargetModules::Kind::kAllLinear;
    options.init_b_zero = false;  // both factors get gradients from the first step
    options.dtype = at::kDouble;
    EXPECT_TRUE(worker::model::ApplyLora(*model.decoder, options, 9).ok());
  }
  worker::model::SetTrainable(*model.decoder, /*train_base=*/!lora);
  for (auto& [name, tensor] : model.decoder->NamedTensors()) {
    if (tensor->requires_grad()) model.trainable.push_back({name, *tensor});
  }
  return model;
}

at::Tensor Tokens(int world, int step) {
  at::manual_seed(500 + step);
  return at::randint(0, 64, {world * kMicroBatch * kAccumulation, kSequence}, at::kLong);
}

at::Tensor Loss(const Decoder& decoder, const at::Tensor& ids) {
  worker::model::ForwardOptions options;
  options.gradient_checkpointing = true;
  return worker::model::CausalLmLoss(decoder.Logits(ids, at::Tensor(), options), ids);
}

configs::OptimizerConfig Optimizer() {
  configs::OptimizerConfig o;
  o.lr = 5e-3;
  o.weight_decay = 0.01;
  return o;
}

std::vector<at::Tensor> Reference(bool lora, int world) {
  Model model = MakeModel(lora);
  std::vector<at::Tensor> params;
  for (const NamedParameter& p : model.trainable) params.push_back(p.tensor);
  const configs::OptimizerConfig o = Optimizer();
  torch::optim::AdamW adamw(params, torch::optim::AdamWOptions(o.lr)
                                        .betas({o.beta1, o.beta2})
                                        .eps(o.eps)
                                        .weight_decay(o.weight_decay));
  for (int step = 0; step < kSteps; ++step) {
    adamw.zero_grad();
    Loss(*model.decoder, Tokens(world, step)).backward();
    double sq = 0;
    for (const at::Tensor& p : params) sq += p.grad().pow(2).sum().item<double>();
    const double coef = 1.0 / (std::sqrt(sq) + 1e-6);
    if (coef < 1.0) {
      for (const at::Tensor& p : params) p.grad().mul_(coef);
    }
    adamw.step();
  }
  std::vector<at::Tensor> out;
  for (const at::Tensor& p : params) out.push_back(p.detach().clone());
  return out;
}

void Train(ZeroEngine& engine, const Model& model, int rank, int world) {
  for (int step = 0; step < kSteps; ++step) {
    at::Tensor tokens = Tokens(world, step);
    for (int64_t g = 0; g < kAccumulation; ++g) {
      at::Tensor ids = tokens.narrow(0, (g * world + rank) * kMicroBatch, kMicroBatch);
      absl::Status backward = engine.Backward(Loss(*model.decoder, ids) / kAccumulation,
                                              /*last_micro_batch=*/g + 1 == kAccumulation);
      ASSERT_TRUE(backward.ok()) << backward;
    }
    absl::StatusOr<StepResult> result = engine.Step();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->applied);
  }
}

double Distance(const Model& model, const std::vector<at::Tensor>& reference) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    diff += (model.trainable[i].tensor.detach() - reference[i]).pow(2).sum().item<double>();
    norm += reference[i].pow(2).sum().item<double>();
  }
  return std::sqrt(diff / norm);
}

void ExpectDecoderEquivalence(std::shared_ptr<Communicator> comm, std::vector<int> stages) {
  for (bool lora : {true, false}) {
    std::vector<at::Tensor> reference = Reference(lora, comm->Size());
    Model untouched = MakeModel(lora);
    for (int stage : stages) {
      for (bool offload : {false, true}) {
        SCOPED_TRACE(absl::StrCat(lora ? "LoRA" : "full", " stage ", stage, " offload ", offload,
                                  " world ", comm->Size()));
        Model model = MakeModel(lora);
        ZeroEngineOptions options;
        options.stage = stage;
        options.reduce_bucket_numel = 2000;  // several buckets for full fine-tuning
        options.offload.offload = offload;
        options.gradient_clipping = 1.0;
        options.optimizer = Optimizer();
        absl::StatusOr<std::unique_ptr<ZeroEngine>> engine =
            ZeroEngine::Create({ParameterGroup{model.trainable, std::nullopt}}, options, comm);
        ASSERT_TRUE(engine.ok()) << engine.status();
        Train(**engine, model, comm->Rank(), comm->Size());
        EXPECT_LE(Distance(model, reference), 1e-10);
        EXPECT_GT(Distance(untouched, reference), 1e-4);  // training moved the parameters
      }
    }
  }
}

TEST(ZeroDecoderTest, LoraAndFullFineTuningStages1And2AtWorldSize2) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::shared_ptr<Communicator> comm = testing::ConnectGlooRank(*rank, "zero-decoder-test");
    ASSERT_NE(comm, nullptr);
    ExpectDecoderEquivalence(comm, {1, 2});
    return;
  }
  testing::RunGlooRanks(2, absl::Seconds(400));
}

TEST(ZeroDecoderTest, LoraAndFullFineTuningStage2AtWorldSize4) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    std::shared_ptr<Communicator> comm = testing::ConnectGlooRank(*rank, "zero-decoder-test");
    ASSERT_NE(comm, nullptr);
    ExpectDecoderEquivalence(comm, {2});
    return;
  }
  testing::RunGlooRanks(4, absl::Seconds(400));
}

}  // namespace
}  // namespace zt::sharding
