// ZeRO stage 3 partitioning at world size 1 (SelfCommunicator): placeholders, one partition for
// tied embeddings, persistence, opaque uint8 storage, the decoder's hook reproducing the
// unpartitioned forward and gradients exactly, and the prefetch bound on gathered elements.
#include "sharding/zero/zero3_parameters.h"
#include "worker/model/decoder_partition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>

#include "sharding/collectives/self_communicator.h"
#include "sharding/zero/zero3_optimizer.h"
#include "tests/sharding/tiny_decoder_config.h"
#include "worker/model/decoder.h"
#include "worker/model/lora_model.h"

namespace zt::sharding {
namespace {

using worker::model::Decoder;

// The ZeRO tests' tiny decoder with a third layer, so prefetch has a unit to look ahead to.
worker::model::DecoderConfig TinyQwen2(bool tied) {
  worker::model::DecoderConfig config = testing::TinyQwen2(tied);
  config.num_layers = 3;
  return config;
}

std::unique_ptr<Decoder> MakeDecoder(bool tied) {
  return std::make_unique<Decoder>(*Decoder::RandomInit(TinyQwen2(tied), 3, at::kDouble));
}

at::Tensor Ids() {
  at::manual_seed(11);
  return at::randint(0, 64, {2, 7}, at::kLong);
}

TEST(Zero3ParametersTest, EveryTensorBecomesAPlaceholderAndTiedEmbeddingsShareOnePartition) {
  std::unique_ptr<Decoder> decoder = MakeDecoder(/*tied=*/true);
  int64_t bytes = 0;
  const size_t distinct = decoder->NamedTensors().size();
  for (auto& [name, t] : decoder->NamedTensors()) bytes += t->nbytes();
  auto params = worker::model::PartitionDecoder(*decoder, {}, std::make_shared<SelfCommunicator>());
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ((*params)->num_params(), static_cast<int>(distinct));
  EXPECT_EQ((*params)->ResidentBytes(/*trainable=*/false), bytes);
  EXPECT_EQ((*params)->ResidentBytes(/*trainable=*/true), 0);
  EXPECT_EQ((*params)->param(0).names,
            (std::vector<std::string>{"model.embed_tokens.weight", "lm_head.weight"}));
  for (auto& [name, t] : decoder->TensorSlots()) {
    EXPECT_EQ(t->numel(), 0) << name;
    EXPECT_EQ(t->scalar_type(), at::kDouble) << name;
  }
  EXPECT_EQ(decoder->lm_head().numel(), 0);
  // Partitioning twice is refused, naming the tensor.
  auto again = worker::model::PartitionDecoder(*decoder, {}, std::make_shared<SelfCommunicator>());
  ASSERT_EQ(again.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(again.status().message().find("\"model.embed_tokens.weight\" is empty"),
            absl::string_view::npos)
      << again.status();
}

// A model loaded in its file's dtype is kept and gathered in the compute dtype, cast piece by
// piece while partitioning: the values are the cast ones, the placeholders carry the new dtype,
// and non-floating storage is left alone.
TEST(Zero3ParametersTest, FloatingTensorsAreCastWhilePartitioning) {
  std::unique_ptr<Decoder> decoder = MakeDecoder(/*tied=*/true);
  std::map<std::string, at::Tensor> cast;
  for (auto& [name, t] : decoder->NamedTensors()) cast[name] = t->to(at::kBFloat16);
  at::Tensor packed = at::randint(0, 256, {40}, at::kByte);
  std::vector<std::pair<std::string, at::Tensor*>> slots = decoder->TensorSlots();
  slots.emplace_back("packed", &packed);
  std::vector<std::vector<std::string>> units = decoder->ParameterUnits();
  units.push_back({"packed"});
  const at::Tensor packed_copy = packed.clone();
  Zero3ParameterOptions options;
  options.persistence_threshold = 48;  // norms stay whole: their copies are cast too
  options.floating_dtype = at::kBFloat16;
  auto params = Zero3Parameters::Create(slots, units, options, std::make_shared<SelfCommunicator>());
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(decoder->dtype(), at::kBFloat16);
  EXPECT_EQ(packed.scalar_type(), at::kByte);
  for (int u = 0; u < (*params)->num_units(); ++u) {
    const std::vector<at::Tensor> full = (*params)->Fetch(u, (*params)->TrainableInputs(u));
    for (size_t j = 0; j < full.size(); ++j) {
      const std::string& name = units[u][j];
      if (name == "packed") {
        EXPECT_TRUE(at::equal(full[j], packed_copy));
        continue;
      }
      const std::string key = name == "lm_head.weight" ? "model.embed_tokens.weight" : name;
      EXPECT_EQ(full[j].scalar_type(), at::kBFloat16) << name;
      EXPECT_TRUE(at::equal(full[j], cast.at(key))) << name;
    }
    (*params)->Release(u);
  }
}

TEST(Zero3ParametersTest, PersistentTensorsStayWhole) {
  std::unique_ptr<Decoder> decoder = MakeDecoder(/*tied=*/false);
  int64_t partitioned = 0, persistent = 0;
  Zero3ParameterOptions options;
  options.persistence_threshold = 48;  // norms and biases (<= 32 elements) stay whole
  for (auto& [name, t] : decoder->NamedTensors()) {
    (t->numel() <= 48 ? persistent : partitioned) += t->nbytes();
  }
  auto params = worker::model::PartitionDecoder(*decoder, options, std::make_shared<SelfCommunicator>());
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_GT(persistent, 0);
  EXPECT_EQ((*params)->ResidentBytes(false), partitioned + persistent);
  for (int id = 0; id < (*params)->num_params(); ++id) {
    const Zero3Parameter& p = (*params)->param(id);
    EXPECT_EQ(p.persistent, p.numel <= 48) << p.names[0];
    EXPECT_EQ(p.partition.defined(), !p.persistent) << p.names[0];  // frozen: no partition
  }
}

TEST(Zero3ParametersTest, OpaqueUint8StorageIsPartitionedAndGatheredBytewise) {
  at::manual_seed(5);
  at::Tensor packed = at::randint(0, 256, {37, 3}, at::kByte);  // e.g. packed 4-bit weights
  at::Tensor scales = at::rand({5}, at::kFloat);
  const at::Tensor packed_copy = packed.clone(), scales_copy = scales.clone();
  auto params = Zero3Parameters::Create({{"q.weight", &packed}, {"q.absmax", &scales}},
                                        {{"q.weight", "q.absmax"}}, {},
                                        std::make_shared<SelfCommunicator>());
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(packed.numel(), 0);
  EXPECT_EQ((*params)->ResidentBytes(false), 37 * 3 + 5 * 4);
  std::vector<at::Tensor> full = (*params)->Fetch(0, {});
  ASSERT_EQ(full.size(), 2u);
  EXPECT_TRUE(at::equal(full[0], packed_copy));
  EXPECT_TRUE(at::equal(full[1], scales_copy));
  EXPECT_EQ((*params)->LiveGatheredNumel(), 37 * 3 + 5);
  (*params)->Release(0);
  EXPECT_EQ((*params)->LiveGatheredNumel(), 0);
}

// A slot layout rounds the partition up to whole alignment units (a packed 4-bit weight's
// blocks) and keeps a constant's dtype when the model is cast; the gathered values are the
// originals either way. A layout of alignment 0 is refused, naming the tensor.
TEST(Zero3ParametersTest, SlotLayoutsAlignPartitionsAndKeepConstantDtypes) {
  at::manual_seed(6);
  at::Tensor packed = at::randint(0, 256, {37, 3}, at::kByte);
  at::Tensor absmax = at::rand({4}, at::kFloat), norm = at::rand({6}, at::kFloat);
  const at::Tensor packed_copy = packed.clone(), absmax_copy = absmax.clone();
  Zero3ParameterOptions options;
  options.floating_dtype = at::kBFloat16;
  options.slot_layouts["q.weight"] = {32, true};
  options.slot_layouts["q.weight.absmax"] = {1, true};
  auto params = Zero3Parameters::Create(
      {{"q.weight", &packed}, {"q.weight.absmax", &absmax}, {"norm.weight", &norm}},
      {{"q.weight", "q.weight.absmax", "norm.weight"}}, options,
      std::make_shared<SelfCommunicator>());
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ((*params)->param(0).partition_numel, 128);  // 111 bytes -> 4 blocks of 32
  EXPECT_EQ((*params)->param(1).dtype, at::kFloat);
  EXPECT_EQ((*params)->param(2).dtype, at::kBFloat16);
  EXPECT_EQ(absmax.scalar_type(), at::kFloat);  // the placeholder keeps it too
  const std::vector<at::Tensor> full = (*params)->Fetch(0, {});
  ASSERT_EQ(full.size(), 3u);
  EXPECT_TRUE(at::equal(full[0], packed_copy));
  EXPECT_TRUE(at::equal(full[1], absmax_copy));
  (*params)->Release(0);

  at::Tensor other = at::rand({8});
  Zero3ParameterOptions bad;
  bad.slot_layouts["w"] = {0, false};
  auto refused = Zero3Parameters::Create({{"w", &other}}, {{"w"}}, bad,
                                         std::make_shared<SelfCommunicator>());
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("\"w\" has partition alignment 0"),
            absl::string_view::npos)
      << refused.status();
}

TEST(Zero3ParametersTest, RejectsUnknownUnitNamesAndNegativeBudgets) {
  at::Tensor floats = at::zeros({4}, at::kFloat).requires_grad_(true);
  at::Tensor codes = at::zeros({4}, at::kByte);
  auto unknown = Zero3Parameters::Create({{"a", &floats}}, {{"b"}}, {},
                                         std::make_shared<SelfCommunicator>());
  ASSERT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("unit 0 names tensor \"b\""), absl::string_view::npos)
      << unknown.status();
  Zero3ParameterOptions bad;
  bad.max_live_numel = -1;
  auto negative = Zero3Parameters::Create({{"c", &codes}}, {{"c"}}, bad,
                                          std::make_shared<SelfCommunicator>());
  ASSERT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(negative.status().message().find("stage3_max_live_parameters (-1)"),
            absl::string_view::npos)
      << negative.status();
}

// The hook's forward and the partitions' gradients equal the unpartitioned decoder's exactly
// (W = 1: the gathers are copies), tied and untied, with and without gradient checkpointing.
TEST(Zero3ParametersTest, HookedForwardAndGradientsMatchTheDecoder) {
  for (bool tied : {true, false}) {
    for (bool checkpointing : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "tied " << tied << " checkpointing " << checkpointing);
      std::unique_ptr<Decoder> reference = MakeDecoder(tied);
      worker::model::SetTrainable(*reference, /*train_base=*/true);
      worker::model::ForwardOptions options;
      options.gradient_checkpointing = checkpointing;
      const at::Tensor ids = Ids();
      const at::Tensor want = reference->Logits(ids, at::Tensor(), options);
      worker::model::CausalLmLoss(want, ids).backward();

      std::unique_ptr<Decoder> decoder = MakeDecoder(tied);
      worker::model::SetTrainable(*decoder, /*train_base=*/true);
      auto params =
          worker::model::PartitionDecoder(*decoder, {}, std::make_shared<SelfCommunicator>());
      ASSERT_TRUE(params.ok()) << params.status();
      options.parameter_hook = params->get();
      const at::Tensor got = decoder->Logits(ids, at::Tensor(), options);
      EXPECT_TRUE(at::equal(got, want));
      worker::model::CausalLmLoss(got, ids).backward();
      // Checkpointing's recompute prefetches downwards and may leave the embedding in flight.
      if (!checkpointing) EXPECT_EQ((*params)->LiveGatheredNumel(), 0);
      auto named = reference->NamedTensors();
      ASSERT_EQ(static_cast<size_t>((*params)->num_params()), named.size());
      for (int id = 0; id < (*params)->num_params(); ++id) {
        const Zero3Parameter& p = (*params)->param(id);
        ASSERT_EQ(p.names[0], named[id].first);
        ASSERT_TRUE(p.partition.grad().defined()) << p.names[0];
        EXPECT_LE((p.partition.grad() - named[id].second->grad().reshape({-1})).abs().max().item<double>(),
                  1e-12)
            << p.names[0];
      }
    }
  }
}

// Forward gathers stay within stage3_max_live_parameters + the largest unit, and prefetching
// does run ahead when the budget allows it.
TEST(Zero3ParametersTest, GatheredElementsStayWithinTheLiveBudget) {
  for (int64_t max_live : {int64_t{0}, int64_t{8000}, int64_t{1000000}}) {
    SCOPED_TRACE(::testing::Message() << "max_live " << max_live);
    std::unique_ptr<Decoder> decoder = MakeDecoder(/*tied=*/false);
    Zero3ParameterOptions options;
    options.max_live_numel = max_live;
    options.prefetch_bucket_numel = 1000000;
    auto params =
        worker::model::PartitionDecoder(*decoder, options, std::make_shared<SelfCommunicator>());
    ASSERT_TRUE(params.ok()) << params.status();
    worker::model::ForwardOptions forward;
    forward.parameter_hook = params->get();
    at::NoGradGuard no_grad;
    (void)decoder->Logits(Ids(), at::Tensor(), forward);
    const int64_t largest = (*params)->LargestUnitNumel();
    EXPECT_LE((*params)->PeakGatheredNumel(), max_live + largest);
    if (max_live >= 1000000) {
      EXPECT_GT((*params)->PeakGatheredNumel(), largest);  // prefetch ran ahead
    } else if (max_live == 0) {
      EXPECT_EQ((*params)->PeakGatheredNumel(), largest);  // no prefetch at all
    }
    ASSERT_TRUE((*params)->PartitionsUpdated().ok());
    EXPECT_EQ((*params)->LiveGatheredNumel(), 0);
  }
}

// Forward and backward of full fine-tuning stay within the same bound: with gradient
// checkpointing the recompute gathers each layer again (prefetching downwards); without it the
// storage of the gathered tensors autograd saved is freed after each unit's forward, gathered
// again when backward reaches the unit and freed when it leaves it.
TEST(Zero3ParametersTest, BackwardRegathersWithinTheLiveBudget) {
  for (bool checkpointing : {false, true}) {
    for (int64_t max_live : {int64_t{0}, int64_t{8000}, int64_t{1000000}}) {
      SCOPED_TRACE(::testing::Message() << "checkpointing " << checkpointing << " max_live "
                                        << max_live);
      std::unique_ptr<Decoder> decoder = MakeDecoder(/*tied=*/true);
      worker::model::SetTrainable(*decoder, /*train_base=*/true);
      Zero3ParameterOptions options;
      options.max_live_numel = max_live;
      auto params =
          worker::model::PartitionDecoder(*decoder, options, std::make_shared<SelfCommunicator>());
      ASSERT_TRUE(params.ok()) << params.status();
      worker::model::ForwardOptions forward;
      forward.parameter_hook = params->get();
      forward.gradient_checkpointing = checkpointing;
      const at::Tensor ids = Ids();
      const at::Tensor loss =
          worker::model::CausalLmLoss(decoder->Logits(ids, at::Tensor(), forward), ids);
      const int64_t forward_peak = (*params)->PeakGatheredNumel();
      EXPECT_EQ((*params)->LiveGatheredNumel(), 0);  // nothing gathered survives the forward
      (*params)->ResetPeak();
      loss.backward();
      const int64_t largest = (*params)->LargestUnitNumel();
      EXPECT_LE(forward_peak, max_live + largest);
      EXPECT_LE((*params)->PeakGatheredNumel(), max_live + largest);
      EXPECT_GT((*params)->PeakGatheredNumel(), 0);  // backward gathered again
      if (!checkpointing) EXPECT_EQ((*params)->LiveGatheredNumel(), 0);
    }
  }
}

// bf16 gradients accumulate in fp32 (DeepSpeed's grad_accum_dtype): of four micro-steps' pieces
// (exact in bf16), the first in [1, 1.5), the other three in [2^-10, 2^-9), each below half a
// bf16 ulp of the running sum. Summed in fp32 the result is the exact sum, within one final bf16
// rounding (<= 2^-8 here); summed in bf16 every small piece is rounded away, an error above
// 2^-8. The optimizer reads the fp32 sum at the boundary and drops it after its step.
TEST(Zero3ParametersTest, SixteenBitGradientsAccumulateInFp32) {
  constexpr int64_t kNumel = 256;
  constexpr int kMicroSteps = 4;
  at::manual_seed(5);
  at::Tensor w = at::randn({kNumel}, at::kFloat).to(at::kBFloat16).requires_grad_(true);
  std::vector<at::Tensor> pieces = {(at::rand({kNumel}, at::kDouble) * 0.5 + 1).to(at::kBFloat16)};
  for (int k = 1; k < kMicroSteps; ++k) {
    const at::Tensor small = (at::rand({kNumel}, at::kDouble) + 1) * std::ldexp(1.0, -10);
    pieces.push_back(small.to(at::kBFloat16));
  }
  at::Tensor exact = at::zeros({kNumel}, at::kDouble);
  at::Tensor in_bf16 = at::zeros({kNumel}, at::kBFloat16);
  for (const at::Tensor& piece : pieces) {
    exact += piece.to(at::kDouble);
    in_bf16 = in_bf16 + piece;  // what accumulating in the parameter dtype gives
  }
  auto params = Zero3Parameters::Create({{"w", &w}}, {{"w"}}, {},
                                        std::make_shared<SelfCommunicator>());
  ASSERT_TRUE(params.ok()) << params.status();
  Zero3OptimizerOptions options;
  auto optimizer = Zero3Optimizer::Create(params->get(), options);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  EXPECT_FALSE((*params)->GradientPartition(0).defined());
  for (int k = 0; k < kMicroSteps; ++k) {
    const at::Tensor full = (*params)->Fetch(0, (*params)->TrainableInputs(0)).at(0);
    // d(loss)/d(full) = pieces[k]: the caller normalises, the optimizer takes the loss as is.
    const at::Tensor loss = (full * pieces[k]).sum();
    ASSERT_TRUE((*optimizer)->Backward(loss, /*last_micro_batch=*/k + 1 == kMicroSteps).ok());
    (*params)->Release(0);
    if (k + 1 < kMicroSteps) {
      EXPECT_EQ((*optimizer)->Step().status().code(), absl::StatusCode::kFailedPrecondition);
    }
  }
  const Zero3Parameter& p = (*params)->param(0);
  EXPECT_FALSE(p.partition.grad().defined());  // no bf16 copy of the gradient
  const at::Tensor accumulated = (*params)->GradientPartition(0);
  ASSERT_TRUE(accumulated.defined());
  EXPECT_EQ(accumulated.scalar_type(), at::kFloat);
  const at::Tensor error = (accumulated.to(at::kDouble) - exact).abs();
  const at::Tensor one_rounding = (exact.to(at::kBFloat16).to(at::kDouble) - exact).abs();
  EXPECT_TRUE(at::all(error <= one_rounding).item<bool>());
  EXPECT_LE(error.max().item<double>(), std::ldexp(1.0, -8));
  const double bf16_error = (in_bf16.to(at::kDouble) - exact).abs().max().item<double>();
  EXPECT_GT(bf16_error, std::ldexp(1.0, -8));
  EXPECT_GT(bf16_error, error.max().item<double>());
  absl::StatusOr<StepResult> step = (*optimizer)->Step();
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_TRUE(step->applied);
  EXPECT_FALSE((*params)->GradientPartition(0).defined());
  // fp64 parameters keep accumulating into partition.grad, which GradientPartition returns.
  at::Tensor v = at::ones({5}, at::kDouble).requires_grad_(true);
  auto fp64 = Zero3Parameters::Create({{"v", &v}}, {{"v"}}, {},
                                      std::make_shared<SelfCommunicator>());
  ASSERT_TRUE(fp64.ok()) << fp64.status();
  (*fp64)->Fetch(0, (*fp64)->TrainableInputs(0)).at(0).sum().backward();
  EXPECT_TRUE((*fp64)->GradientPartition(0).is_same((*fp64)->param(0).partition.grad()));
  (*fp64)->ZeroGradientPartitions();
  EXPECT_FALSE((*fp64)->param(0).partition.grad().defined());
}

// A bf16 decoder through the hook (W = 1: the gathers are copies, so the bf16 arithmetic is the
// reference's): each parameter's fp32 gradient partition holds exactly the reference's bf16
// gradient, with and without gradient checkpointing (whose recompute hands the gradients to the
// checkpoint's copies of the partitions).
TEST(Zero3ParametersTest, Bf16DecoderGradientsArriveInFp32Partitions) {
  for (bool checkpointing : {false, true}) {
    SCOPED_TRACE(::testing::Message() << "checkpointing " << checkpointing);
    auto make = [] {
      auto decoder = std::make_unique<Decoder>(
          *Decoder::RandomInit(TinyQwen2(/*tied=*/false), 3, at::kBFloat16));
      worker::model::SetTrainable(*decoder, /*train_base=*/true);
      return decoder;
    };
    std::unique_ptr<Decoder> reference = make();
    worker::model::ForwardOptions options;
    options.gradient_checkpointing = checkpointing;
    const at::Tensor ids = Ids();
    worker::model::CausalLmLoss(reference->Logits(ids, at::Tensor(), options), ids).backward();

    std::unique_ptr<Decoder> decoder = make();
    auto params = worker::model::PartitionDecoder(*decoder, {}, std::make_shared<SelfCommunicator>());
    ASSERT_TRUE(params.ok()) << params.status();
    options.parameter_hook = params->get();
    worker::model::CausalLmLoss(decoder->Logits(ids, at::Tensor(), options), ids).backward();
    auto named = reference->NamedTensors();
    ASSERT_EQ(static_cast<size_t>((*params)->num_params()), named.size());
    for (int id = 0; id < (*params)->num_params(); ++id) {
      const at::Tensor grad = (*params)->GradientPartition(id);
      ASSERT_TRUE(grad.defined()) << named[id].first;
      EXPECT_EQ(grad.scalar_type(), at::kFloat) << named[id].first;
      EXPECT_FALSE((*params)->param(id).partition.grad().defined()) << named[id].first;
      EXPECT_TRUE(at::equal(grad, named[id].second->grad().reshape({-1}).to(at::kFloat)))
          << named[id].first;
    }
  }
}

TEST(Zero3ParametersTest, OptionsFromDsConfig) {
  configs::DsConfig config;
  config.zero.stage = 3;
  config.zero.param_persistence_threshold_numel = 123;
  config.zero.prefetch_bucket_numel = 456;
  config.zero.max_live_parameters_numel = 789;
  config.zero.offload_param.device = configs::OffloadDevice::kCpu;
  config.zero.offload_optimizer.device = configs::OffloadDevice::kCpu;
  config.gradient_accumulation_steps = 4;
  config.gradient_clipping = 0.5;
  const Zero3ParameterOptions params = Zero3ParameterOptionsFromDsConfig(config);
  EXPECT_EQ(params.persistence_threshold, 123);
  EXPECT_EQ(params.prefetch_bucket_numel, 456);
  EXPECT_EQ(params.max_live_numel, 789);
  EXPECT_TRUE(params.offload_param);
  absl::StatusOr<Zero3OptimizerOptions> optimizer = Zero3OptimizerOptionsFromDsConfig(config);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  EXPECT_EQ(optimizer->gradient_clipping, 0.5);
  EXPECT_TRUE(optimizer->offload.offload);
  EXPECT_FALSE(optimizer->fp16);
  config.fp16.enabled = true;
  config.fp16.initial_scale_power = 12;
  config.fp16.hysteresis = 3;
  optimizer = Zero3OptimizerOptionsFromDsConfig(config);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  EXPECT_TRUE(optimizer->fp16);
  EXPECT_EQ(optimizer->loss_scaler.initial_scale_power, 12);
  EXPECT_EQ(optimizer->loss_scaler.hysteresis, 3);
  config.fp16.enabled = false;
  config.zero.stage = 2;
  optimizer = Zero3OptimizerOptionsFromDsConfig(config);
  ASSERT_EQ(optimizer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(optimizer.status().message().find("zero_optimization.stage is 2"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace zt::sharding
