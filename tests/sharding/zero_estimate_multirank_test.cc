// `zerotune estimate`'s arithmetic (sharding/zero/model_state_estimate.h) against what the ZeRO
// engine allocates, on real Gloo ranks at world sizes 1, 2 and 4: the tiny Qwen2 preset written
// by init-model, read back as config.json on one side and loaded as a Decoder on the other,
// LoRA (every linear, r 8) and full fine-tuning, fp32 and bf16, stages 0-2 with and without
// optimizer offload (full fine-tuning: offload at stage 1 only), and stage 3 with and without,
// the ds_config resolved for the world size (reduce_bucket_size "auto" = hidden_size^2, so many
// buckets). Every figure must be equal, byte for byte, on every rank.
#include <gtest/gtest.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "configs/ds_config.h"
#include "configs/model_config.h"
#include "sharding/zero/model_state_estimate.h"
#include "sharding/zero/zero3_optimizer.h"
#include "sharding/zero/zero3_parameters.h"
#include "sharding/zero/zero_engine.h"
#include "tests/sharding/gloo_test_ranks.h"
#include "tests/support/rank_processes.h"
#include "tests/support/temp_dir.h"
#include "worker/model/decoder_partition.h"
#include "worker/model/init_model_command.h"
#include "worker/model/lora_model.h"
#include "worker/model/model_folder.h"

namespace zt::sharding {
namespace {

constexpr char kTargets[] = "q_proj,k_proj,v_proj,o_proj,up_proj,gate_proj,down_proj";

configs::DsConfig Resolve(int stage, bool offload, bool bf16, int world, int64_t hidden) {
  nlohmann::json raw = {
      {"train_micro_batch_size_per_gpu", "auto"},
      {"gradient_accumulation_steps", "auto"},
      {"optimizer", {{"type", "AdamW"}, {"params", {{"lr", "auto"}, {"weight_decay", "auto"}}}}},
      {"bf16", {{"enabled", bf16}}},
      {"zero_optimization",
       {{"stage", stage},
        {"reduce_bucket_size", "auto"},
        {"offload_optimizer", {{"device", offload ? "cpu" : "none"}}}}}};
  // 10 x hidden: the tiny model's norms and LoRA A factors may persist, its larger tensors do
  // not; the model-wide cap stops persisting after the first 4,000 elements.
  if (stage == 3) {
    raw["zero_optimization"]["stage3_param_persistence_threshold"] = "auto";
    raw["zero_optimization"]["stage3_model_persistence_threshold"] = 4000;
  }
  configs::TrainingArguments args;
  args.weight_decay = 0.01;
  configs::DsResolveOptions options;
  options.world_size = world;
  options.args = &args;
  options.hidden_size = hidden;
  configs::Diagnostics diag;
  configs::DsConfig ds = configs::ResolveDsConfig(raw, options, diag);
  EXPECT_FALSE(diag.has_errors()) << diag.errors().front().ToString();
  return ds;
}

// The decoder the engine would train, from the init-model folder.
worker::model::Decoder LoadTrainable(const std::string& dir, bool lora, at::ScalarType dtype) {
  absl::StatusOr<worker::model::Decoder> decoder = worker::model::LoadModelFolder(dir, dtype);
  EXPECT_TRUE(decoder.ok()) << decoder.status();
  if (lora) {
    worker::model::LoraOptions options;
    options.r = 8;
    options.lora_alpha = 16;
    options.target_modules = *configs::ParseLoraTargetModules(kTargets);
    options.dtype = dtype;  // DeepSpeed casts the whole module to bf16
    EXPECT_TRUE(worker::model::ApplyLora(*decoder, options, 1).ok());
  }
  worker::model::SetTrainable(*decoder, /*train_base=*/!lora);
  return std::move(*decoder);
}

void ExpectEstimateEqualsEngine(std::shared_ptr<Communicator> comm) {
  const int world = comm->Size();
  zt::testing::TempDir dir;
  worker::model::InitModelRequest init;
  init.arch = "qwen2";
  init.preset = "tiny";
  init.out = dir.Join("tiny");
  init.seed = 3;
  init.dtype = "fp32";
  ASSERT_TRUE(worker::model::RunInitModel(init).ok());
  absl::StatusOr<configs::ModelConfig> config = configs::LoadModelConfig(init.out);
  ASSERT_TRUE(config.ok()) << config.status();

  for (bool lora : {true, false}) {
    for (bool bf16 : {false, true}) {
      SCOPED_TRACE(absl::StrCat(lora ? "LoRA" : "full", bf16 ? " bf16" : " fp32", " world ",
                                world));
      worker::model::Decoder decoder =
          LoadTrainable(init.out, lora, bf16 ? at::kBFloat16 : at::kFloat);
      TrainingSetup setup;
      setup.lora = lora;
      setup.lora_r = 8;
      setup.lora_targets = *configs::ParseLoraTargetModules(kTargets);
      // The estimate's tensor list is the decoder's: names, order, sizes, trainable.
      absl::StatusOr<std::vector<DecoderTensor>> listed = ListDecoderTensors(*config, setup);
      ASSERT_TRUE(listed.ok()) << listed.status();
      auto named = decoder.NamedTensors();
      ASSERT_EQ(listed->size(), named.size());
      std::vector<NamedParameter> trainable;
      int64_t frozen_bytes = 0;
      for (size_t i = 0; i < named.size(); ++i) {
        const at::Tensor& t = *named[i].second;
        EXPECT_EQ((*listed)[i].name, named[i].first);
        EXPECT_EQ((*listed)[i].numel, t.numel()) << named[i].first;
        EXPECT_EQ((*listed)[i].trainable, t.requires_grad()) << named[i].first;
        if (t.requires_grad()) {
          trainable.push_back({named[i].first, t});
        } else {
          frozen_bytes += t.nbytes();
        }
      }
      for (int stage : {0, 1, 2}) {
        for (bool offload : {false, true}) {
          if (stage == 0 && offload) continue;  // DeepSpeed offloads from stage 1 on
          // Full fine-tuning (10M parameters, mostly the 151,936-row embedding) keeps the test
          // fast with one offload setting per stage: offload changes no layout, only where the
          // optimizer state lives and the 16-bit host copy, which LoRA covers at every stage.
          if (!lora && stage > 0 && offload != (stage == 1)) continue;
          SCOPED_TRACE(absl::StrCat("stage ", stage, " offload ", offload));
          const configs::DsConfig ds = Resolve(stage, offload, bf16, world, config->hidden_size);
          ASSERT_EQ(ds.zero.reduce_bucket_numel, 64 * 64);
          absl::StatusOr<ModelStateEstimate> estimate =
              EstimateModelStates(*config, setup, ds, world);
          ASSERT_TRUE(estimate.ok()) << estimate.status();
          absl::StatusOr<ZeroEngineOptions> options = ZeroEngineOptionsFromDsConfig(ds);
          ASSERT_TRUE(options.ok()) << options.status();
          std::vector<ParameterGroup> groups = DecayParameterGroups(trainable);
          absl::StatusOr<std::unique_ptr<ZeroEngine>> engine =
              ZeroEngine::Create(groups, *options, comm);
          ASSERT_TRUE(engine.ok()) << engine.status();
          const StageEstimate& e = estimate->stages[stage];
          EXPECT_EQ(estimate->num_groups, static_cast<int>(groups.size()));
          EXPECT_EQ(e.partition_numel, (*engine)->PartitionNumel());
          EXPECT_EQ(e.trainable.bytes, (*engine)->ParameterBufferBytes());
          EXPECT_EQ(e.gradients.bytes, (*engine)->GradientAccumulatorBytes());
          EXPECT_EQ(e.optimizer.bytes, (*engine)->OptimizerStateBytes());
          EXPECT_EQ(e.update_buffer.bytes, (*engine)->UpdateBufferBytes());
          EXPECT_EQ(e.base_weights.bytes, frozen_bytes);
          EXPECT_EQ(e.optimizer.on_host, offload);
          EXPECT_FALSE(e.gradients.on_host);
          // Several buckets, so the padding per bucket is what is being checked.
          EXPECT_GT((*engine)->NumUpdateBuckets(), 1);
        }
      }
      for (bool offload : {false, true}) {
        SCOPED_TRACE(absl::StrCat("stage 3 offload ", offload));
        const configs::DsConfig ds = Resolve(3, offload, bf16, world, config->hidden_size);
        absl::StatusOr<ModelStateEstimate> estimate = EstimateModelStates(*config, setup, ds, world);
        ASSERT_TRUE(estimate.ok()) << estimate.status();
        const StageEstimate& e = estimate->stages[3];
        worker::model::Decoder partitioned =
            LoadTrainable(init.out, lora, bf16 ? at::kBFloat16 : at::kFloat);
        absl::StatusOr<std::unique_ptr<Zero3Parameters>> zero3 = worker::model::PartitionDecoder(
            partitioned, Zero3ParameterOptionsFromDsConfig(ds), comm);
        ASSERT_TRUE(zero3.ok()) << zero3.status();
        absl::StatusOr<Zero3OptimizerOptions> options = Zero3OptimizerOptionsFromDsConfig(ds);
        ASSERT_TRUE(options.ok()) << options.status();
        absl::StatusOr<std::unique_ptr<Zero3Optimizer>> optimizer =
            Zero3Optimizer::Create(zero3->get(), *options);
        ASSERT_TRUE(optimizer.ok()) << optimizer.status();
        int64_t partition_numel = 0, persistent = 0;
        for (int id : (*zero3)->TrainableIds()) partition_numel += (*zero3)->param(id).partition_numel;
        for (int id = 0; id < (*zero3)->num_params(); ++id) persistent += (*zero3)->param(id).persistent;
        EXPECT_GT(persistent, 0);
        EXPECT_LT(persistent, (*zero3)->num_params());
        EXPECT_EQ(e.partition_numel, partition_numel);
        EXPECT_EQ(e.base_weights.bytes, (*zero3)->ResidentBytes(/*trainable=*/false));
        EXPECT_EQ(e.trainable.bytes, (*zero3)->ResidentBytes(/*trainable=*/true));
        EXPECT_EQ(e.optimizer.bytes, (*optimizer)->OptimizerStateBytes());
        EXPECT_EQ(e.optimizer.on_host, offload);
        // Gradient partitions exist once backward reached every trainable tensor.
        worker::model::ForwardOptions forward;
        forward.parameter_hook = zero3->get();
        const at::Tensor ids = at::arange(6, at::kLong).view({1, 6});
        partitioned.Logits(ids, at::Tensor(), forward).to(at::kFloat).pow(2).mean().backward();
        int64_t gradient_bytes = 0;
        for (int id : (*zero3)->TrainableIds()) {
          const at::Tensor grad = (*zero3)->GradientPartition(id);
          ASSERT_TRUE(grad.defined()) << (*zero3)->param(id).names[0];
          gradient_bytes += grad.nbytes();
        }
        EXPECT_EQ(e.gradients.bytes, gradient_bytes);
      }
    }
  }
}

TEST(ZeroEstimateMultirankTest, EstimateEqualsEngineAllocationAtWorldSizes1_2_4) {
  for (int world : {1, 2, 4}) {
    if (std::optional<int> rank = zt::testing::ChildRank()) {
      if (zt::testing::ChildWorldSize() != world) continue;
      std::shared_ptr<Communicator> comm = testing::ConnectGlooRank(*rank, "zero-estimate-test");
      ASSERT_NE(comm, nullptr);
      ExpectEstimateEqualsEngine(comm);
      return;
    }
    testing::RunGlooRanks(world, absl::Seconds(300));
  }
}

}  // namespace
}  // namespace zt::sharding
