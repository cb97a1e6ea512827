// Table-driven rejections: each case is a ds_config (plus world size and training flags) that
// DeepSpeed or zerotune's support policy rejects, with the exact JSON path (or flag) and message
// zerotune reports. Every case must produce exactly that error (others may accompany it).
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "configs/ds_config.h"
#include "configs/json_reader.h"
#include "tests/configs/test_data.h"

namespace zt::configs {
namespace {

struct NegativeCase {
  const char* name;
  const char* config;  // tolerant JSON
  const char* path;
  const char* message;
  int64_t world_size = 1;
  std::vector<std::pair<const char*, const char*>> flags = {};
};

// A valid base most cases extend: ZeRO-2, concrete batch triad, AdamW.
#define TRIAD "\"train_batch_size\": 8, \"train_micro_batch_size_per_gpu\": 4, " \
              "\"gradient_accumulation_steps\": 2, "
#define BASE TRIAD "\"optimizer\": {\"type\": \"AdamW\"}, "

const NegativeCase kCases[] = {
    // batch triad
    {"triad_product", "{\"train_batch_size\": 16, \"train_micro_batch_size_per_gpu\": 2, "
     "\"gradient_accumulation_steps\": 8, \"optimizer\": {\"type\": \"AdamW\"}}", "train_batch_size",
     "train_batch_size is not equal to train_micro_batch_size_per_gpu * gradient_accumulation_steps"
     " * world_size: 16 != 2 * 8 * 2; for world size 2 set gradient_accumulation_steps to 4 or "
     "train_batch_size to 32", 2},
    {"triad_missing", "{\"gradient_accumulation_steps\": 2, \"optimizer\": {\"type\": \"AdamW\"}}",
     "train_batch_size",
     "either train_batch_size or train_micro_batch_size_per_gpu needs to be provided"},
    {"triad_micro_zero", "{\"train_batch_size\": 4}", "train_micro_batch_size_per_gpu",
     "Micro batch size per gpu: 0 has to be greater than 0 (gradient_accumulation_steps = 1, "
     "train_micro_batch_size_per_gpu derived as 4 // 8)", 8},
    {"triad_not_integer", "{\"train_batch_size\": 8.5}", "train_batch_size",
     "expected an integer, got 8.5"},
    {"triad_string", "{\"train_micro_batch_size_per_gpu\": \"4\"}", "train_micro_batch_size_per_gpu",
     "expected an integer, got \"4\""},
    // HF "auto" conflicts with flags the user set
    {"flag_conflict_micro", "{" BASE "\"zero_optimization\": {\"stage\": 2}}",
     "train_micro_batch_size_per_gpu",
     "4 conflicts with --per_device_train_batch_size 2; set train_micro_batch_size_per_gpu to "
     "\"auto\" or make them agree", 1, {{"per_device_train_batch_size", "2"}}},
    // The flags' product (2 ranks * 2 * 4), not the file's accumulation (8).
    {"flag_conflict_train_batch", "{\"train_batch_size\": 32, "
     "\"train_micro_batch_size_per_gpu\": 2, \"gradient_accumulation_steps\": 8, "
     "\"optimizer\": {\"type\": \"AdamW\"}}", "train_batch_size",
     "32 conflicts with --per_device_train_batch_size 2 and --gradient_accumulation_steps 4 (which "
     "give 16); set train_batch_size to \"auto\" or make them agree", 2,
     {{"per_device_train_batch_size", "2"}, {"gradient_accumulation_steps", "4"}}},
    {"flag_conflict_lr", "{\"train_batch_size\": 8, \"optimizer\": {\"type\": \"AdamW\", "
     "\"params\": {\"lr\": 1e-4}}}", "optimizer.params.lr",
     "0.0001 conflicts with --learning_rate 0.0003; set optimizer.params.lr to \"auto\" or make "
     "them agree", 1, {{"learning_rate", "3e-4"}}},
    {"flag_conflict_betas", "{\"train_batch_size\": 8, \"optimizer\": {\"type\": \"AdamW\", "
     "\"params\": {\"betas\": [0.9, 0.999]}}}", "optimizer.params.betas",
     "[0.9,0.999] conflicts with --adam_beta2 0.95 (which give [0.9,0.95]); set "
     "optimizer.params.betas to \"auto\" or make them agree", 1, {{"adam_beta2", "0.95"}}},
    {"flag_conflict_clip", "{\"train_batch_size\": 8, \"gradient_clipping\": 1.0}",
     "gradient_clipping",
     "1.0 conflicts with --max_grad_norm 0.3; set gradient_clipping to \"auto\" or make them "
     "agree", 1, {{"max_grad_norm", "0.3"}}},
    {"flag_conflict_bf16", "{\"train_batch_size\": 8, \"bf16\": {\"enabled\": false}}",
     "bf16.enabled",
     "false conflicts with --bf16 true; set bf16.enabled to \"auto\" or make them agree", 1,
     {{"bf16", "true"}}},
    {"auto_without_args", "{\"train_batch_size\": \"auto\"}", "train_batch_size",
     "\"auto\" is resolved only from training arguments (HF Trainer semantics)"},
    // precision
    {"fp16_and_bf16", "{" BASE "\"fp16\": {\"enabled\": true}, \"bf16\": {\"enabled\": true}}",
     "fp16.enabled",
     "bfloat16 and fp16 modes cannot be simultaneously enabled (bf16.enabled is true)"},
    {"fp16_window", "{" BASE "\"fp16\": {\"enabled\": true, \"loss_scale_window\": 0}}",
     "fp16.loss_scale_window", "must be > 0 with dynamic loss scaling, got 0"},
    {"fp16_min_scale_float", "{" BASE "\"fp16\": {\"enabled\": true, \"min_loss_scale\": 1e-10}}",
     "fp16.min_loss_scale", "expected an integer, got 1e-10"},
    {"fp16_negative_scale", "{" BASE "\"fp16\": {\"enabled\": true, \"loss_scale\": -1}}",
     "fp16.loss_scale", "must be >= 0 (0 = dynamic), got -1.0"},
    {"fp16_auto_cast", "{" BASE "\"fp16\": {\"enabled\": true, \"auto_cast\": true}}",
     "fp16.auto_cast", "true is not supported by zerotune (only false)"},
    {"fp16_master_weights", "{" BASE "\"fp16\": {\"fp16_master_weights_and_grads\": true}}",
     "fp16.fp16_master_weights_and_grads", "true is not supported by zerotune (only false)"},
    {"bf16_optimizer_states", "{" BASE "\"bf16\": {\"enabled\": true, \"bf16_optimizer_states\": true}}",
     "bf16.bf16_optimizer_states", "true is not supported by zerotune (only false)"},
    {"bf16_unknown_key", "{" BASE "\"bf16\": {\"enable\": true}}", "bf16.enable",
     "unknown key (did you mean \"enabled\"?); DeepSpeed rejects unknown keys in bf16 too"},
    // zero_optimization
    {"zero_stage_4", "{" BASE "\"zero_optimization\": {\"stage\": 4}}", "zero_optimization.stage",
     "4 is not a ZeRO stage, expected 0, 1, 2 or 3 (Maximum supported ZeRO stage is 3)"},
    {"zero_unknown_key", "{" BASE "\"zero_optimization\": {\"stage\": 2, \"reduce_bucket\": 5e8}}",
     "zero_optimization.reduce_bucket",
     "unknown key (did you mean \"reduce_bucket_size\"?); DeepSpeed rejects unknown keys in "
     "zero_optimization too"},
    // The closest real key, not a short prefix of the misspelling ("stage").
    {"zero_misspelled_stage3_key", "{" BASE "\"zero_optimization\": {\"stage\": 3, "
     "\"stage3_prefetch_bucket_szie\": 5e7}}", "zero_optimization.stage3_prefetch_bucket_szie",
     "unknown key (did you mean \"stage3_prefetch_bucket_size\"?); DeepSpeed rejects unknown "
     "keys in zero_optimization too"},
    {"zero_quantized_weights", "{" BASE "\"zero_optimization\": {\"stage\": 3, "
     "\"zero_quantized_weights\": true}}", "zero_optimization.zero_quantized_weights",
     "true is not supported by zerotune (only false)"},
    {"zero_hpz", "{" BASE "\"zero_optimization\": {\"stage\": 3, \"zero_hpz_partition_size\": 8}}",
     "zero_optimization.zero_hpz_partition_size", "8 is not supported by zerotune (only 1)"},
    {"zero_mics_removed", "{" BASE "\"zero_optimization\": {\"stage\": 3, \"mics_shard_size\": 8}}",
     "zero_optimization.mics_shard_size",
     "MiCS ZeRO-3 sharding has been removed from DeepSpeed (DeepSpeed 0.19.8 rejects the key); "
     "remove it"},
    {"zero_bucket_zero", "{" BASE "\"zero_optimization\": {\"stage\": 2, \"reduce_bucket_size\": 0}}",
     "zero_optimization.reduce_bucket_size", "expected an integer > 0, got 0"},
    {"zero_bucket_fraction", "{" BASE "\"zero_optimization\": {\"stage\": 2, "
     "\"reduce_bucket_size\": 2.5e-1}}", "zero_optimization.reduce_bucket_size",
     "expected an integer > 0, got 0.25"},
    {"zero_negative_prefetch", "{" BASE "\"zero_optimization\": {\"stage\": 3, "
     "\"stage3_prefetch_bucket_size\": -1}}", "zero_optimization.stage3_prefetch_bucket_size",
     "expected an integer >= 0, got -1"},
    {"zero_allgather_odd", "{" BASE "\"zero_optimization\": {\"stage\": 2, "
     "\"allgather_bucket_size\": 3}}", "zero_optimization.allgather_bucket_size",
     "must be a multiple of 2, got 3"},
    {"zero_alias_twice", "{" BASE "\"zero_optimization\": {\"stage\": 3, "
     "\"prefetch_bucket_size\": 1, \"stage3_prefetch_bucket_size\": 2}}",
     "zero_optimization.stage3_prefetch_bucket_size",
     "duplicates zero_optimization.prefetch_bucket_size (an alias of the same key)"},
    {"zero_bool_type", "{" BASE "\"zero_optimization\": {\"stage\": 2, \"overlap_comm\": \"maybe\"}}",
     "zero_optimization.overlap_comm", "expected true, false or null, got \"maybe\""},
    {"offload_nvme", "{" BASE "\"zero_optimization\": {\"stage\": 3, \"offload_optimizer\": "
     "{\"device\": \"nvme\", \"nvme_path\": \"/nvme\"}}}",
     "zero_optimization.offload_optimizer.device", "\"nvme\" is not supported by zerotune (none or cpu)"},
    {"offload_bad_device", "{" BASE "\"zero_optimization\": {\"stage\": 2, \"offload_optimizer\": "
     "{\"device\": \"gpu\"}}}", "zero_optimization.offload_optimizer.device",
     "expected one of none, cpu, nvme, got \"gpu\""},
    {"offload_ratio", "{" BASE "\"zero_optimization\": {\"stage\": 3, \"offload_optimizer\": "
     "{\"device\": \"cpu\", \"ratio\": 0.5}}}", "zero_optimization.offload_optimizer.ratio",
     "0.5 is not supported by zerotune (only 1.0)"},
    {"offload_unknown", "{" BASE "\"zero_optimization\": {\"stage\": 2, \"offload_optimizer\": "
     "{\"device\": \"cpu\", \"pin_memroy\": true}}}", "zero_optimization.offload_optimizer.pin_memroy",
     "unknown key (did you mean \"pin_memory\"?); DeepSpeed rejects unknown keys in "
     "zero_optimization.offload_optimizer too"},
    {"offload_stage0", "{" BASE "\"zero_optimization\": {\"stage\": 0, \"offload_optimizer\": "
     "{\"device\": \"cpu\"}}}", "zero_optimization.offload_optimizer",
     "needs ZeRO stage 1, 2 or 3 (stage 0 has no partitioned optimizer); stage is 0"},
    {"compute_grad_norm", "{" BASE "\"zero_optimization\": {\"stage\": 2, \"compute_grad_norm\": false}}",
     "zero_optimization.compute_grad_norm", "false is not supported by zerotune (only true)"},
    // gradient averaging
    {"sum_stage3", "{" BASE "\"zero_optimization\": {\"stage\": 3}, \"gradient_allreduce_op\": \"sum\"}",
     "gradient_allreduce_op", "\"sum\" cannot be used with ZeRO stage 3 (zero_optimization.stage=3)"},
    {"allreduce_op_bad", "{" BASE "\"gradient_allreduce_op\": \"avg\"}", "gradient_allreduce_op",
     "expected one of mean, sum, got \"avg\""},
    {"predivide_reduce_scatter", "{" BASE "\"zero_optimization\": {\"stage\": 2}, "
     "\"gradient_predivide_factor\": 2.0}", "gradient_predivide_factor",
     "2.0 cannot be used with zero_optimization.reduce_scatter=true at ZeRO stage 2 (expected 1.0)"},
    {"prescale_reduce_scatter", "{" BASE "\"zero_optimization\": {\"stage\": 3}, "
     "\"prescale_gradients\": true}", "prescale_gradients",
     "true cannot be used with zero_optimization.reduce_scatter=true at ZeRO stage 3"},
    {"comm_dtype", "{" BASE "\"communication_data_type\": \"fp8\"}", "communication_data_type",
     "Invalid communication_data_type \"fp8\", expected fp16, bf16 or fp32"},
    {"clip_negative", "{" BASE "\"gradient_clipping\": -1}", "gradient_clipping",
     "must be >= 0 (0 disables), got -1"},
    // optimizer
    {"optimizer_unknown", "{" TRIAD "\"optimizer\": {\"type\": \"AdamWW\"}}", "optimizer.type",
     "\"AdamWW\" is not a supported DeepSpeed Optimizer (did you mean \"AdamW\"?)"},
    {"optimizer_lamb", "{" TRIAD "\"optimizer\": {\"type\": \"Lamb\"}}", "optimizer.type",
     "\"Lamb\" is not supported by zerotune (Adam or AdamW)"},
    {"optimizer_onebit", "{" TRIAD "\"optimizer\": {\"type\": \"OneBitAdam\"}, "
     "\"zero_optimization\": {\"stage\": 2}}", "optimizer.type",
     "\"OneBitAdam\" is not supported by zerotune (Adam or AdamW); DeepSpeed also rejects 1-bit "
     "optimizers with ZeRO (stage 2)"},
    {"optimizer_max_grad_norm", "{" TRIAD "\"optimizer\": {\"type\": \"AdamW\", \"params\": "
     "{\"max_grad_norm\": 1.0}}}", "optimizer.params.max_grad_norm",
     "'max_grad_norm' is not supported as an optimizer parameter, please switch to using the "
     "deepspeed parameter 'gradient_clipping'"},
    {"optimizer_unknown_param", "{" TRIAD "\"optimizer\": {\"type\": \"Adam\", \"params\": "
     "{\"beta\": [0.9, 0.99]}}}", "optimizer.params.beta",
     "unknown parameter of Adam (did you mean \"betas\"?); DeepSpeed passes params to the "
     "constructor, which rejects it"},
    {"optimizer_betas_shape", "{" TRIAD "\"optimizer\": {\"type\": \"AdamW\", \"params\": "
     "{\"betas\": [0.9]}}}", "optimizer.params.betas",
     "expected [beta1, beta2] with each in [0, 1), got [0.9]"},
    {"optimizer_amsgrad", "{" TRIAD "\"optimizer\": {\"type\": \"AdamW\", \"params\": "
     "{\"amsgrad\": true}}}", "optimizer.params.amsgrad", "true is not supported by zerotune (only false)"},
    {"optimizer_missing_stage2", "{\"train_batch_size\": 8, \"zero_optimization\": {\"stage\": 2}}",
     "optimizer", "zero stage 2 requires an optimizer"},
    // scheduler
    {"scheduler_unknown", "{" BASE "\"scheduler\": {\"type\": \"WarmupLr\"}}", "scheduler.type",
     "DeepSpeed does not recognize LR scheduler \"WarmupLr\" (did you mean \"WarmupLR\"?)"},
    {"scheduler_torch", "{" BASE "\"scheduler\": {\"type\": \"StepLR\"}}", "scheduler.type",
     "\"StepLR\" is not supported by zerotune (one of WarmupLR, WarmupDecayLR, WarmupCosineLR, "
     "OneCycle, LRRangeTest, or --lr_scheduler_type without a scheduler block)"},
    {"scheduler_total_missing", "{" BASE "\"scheduler\": {\"type\": \"WarmupDecayLR\"}}",
     "scheduler.params.total_num_steps", "required by WarmupDecayLR, missing"},
    {"scheduler_warmup_zero", "{" BASE "\"scheduler\": {\"type\": \"WarmupLR\", \"params\": "
     "{\"warmup_num_steps\": 0}}}", "scheduler.params.warmup_num_steps",
     "must be a positive integer, got 0"},
    {"scheduler_warmup_type", "{" BASE "\"scheduler\": {\"type\": \"WarmupCosineLR\", \"params\": "
     "{\"total_num_steps\": 10, \"warmup_type\": \"cosine\"}}}", "scheduler.params.warmup_type",
     "expected \"log\" or \"linear\", got \"cosine\""},
    {"scheduler_unknown_param", "{" BASE "\"scheduler\": {\"type\": \"OneCycle\", \"params\": "
     "{\"cycle_min_lr\": 0, \"cycle_max_lr\": 1, \"cycle_max_momentum\": 0.9}}}",
     "scheduler.params.cycle_max_momentum",
     "unknown parameter of OneCycle (did you mean \"cycle_max_mom\"?); DeepSpeed passes params to "
     "the constructor, which rejects it"},
    // other top-level keys and features
    {"removed_amp", "{" BASE "\"amp\": {\"enabled\": true}}", "amp",
     "NVIDIA Apex AMP integration has been removed; use fp16 or bf16 (DeepSpeed 0.19.8 rejects the "
     "key); remove it"},
    {"removed_elasticity", "{" BASE "\"elasticity\": {\"enabled\": false}}", "elasticity",
     "elastic training has been removed from DeepSpeed; set train_batch_size / "
     "train_micro_batch_size_per_gpu / gradient_accumulation_steps directly (DeepSpeed 0.19.8 "
     "rejects the key); remove it"},
    {"pipeline_enabled", "{" BASE "\"compile\": {\"enabled\": true}}", "compile.enabled",
     "true is not supported by zerotune"},
    {"tensor_parallel", "{" BASE "\"tensor_parallel\": {\"autotp_size\": 4}}",
     "tensor_parallel.autotp_size", "4 is not supported by zerotune (data parallelism only; 1)"},
    {"sequence_parallel", "{" BASE "\"sequence_parallel_size\": 2}", "sequence_parallel_size",
     "2 is not supported by zerotune (1)"},
    {"data_parallel_size", "{" BASE "\"data_parallel_size\": 4}", "data_parallel_size",
     "4 != the data-parallel world size 1"},
    {"managed_ga", "{" BASE "\"managed_gradient_accumulation\": false}",
     "managed_gradient_accumulation", "false is not supported by zerotune (only true)"},
    {"grad_accum_dtype", "{" BASE "\"data_types\": {\"grad_accum_dtype\": \"bf16\"}}",
     "data_types.grad_accum_dtype", "\"bf16\" is not supported by zerotune (fp32)"},
    {"param_dtype", "{" BASE "\"bf16\": {\"enabled\": true}, \"data_types\": {\"param_dtype\": \"fp16\"}}",
     "data_types.param_dtype",
     "\"fp16\" must match the enabled precision mode \"bf16\" (fp16.enabled / bf16.enabled)"},
    {"tag_validation", "{" BASE "\"checkpoint\": {\"tag_validation\": \"Strict\"}}",
     "checkpoint.tag_validation", "expected Ignore, Warn or Fail, got \"Strict\""},
    {"load_universal", "{" BASE "\"checkpoint\": {\"load_universal\": true}}",
     "checkpoint.load_universal", "true is not supported by zerotune (only false)"},
    {"bfloat16_and_bf16", "{" BASE "\"bf16\": {\"enabled\": true}, \"bfloat16\": {\"enabled\": true}}",
     "bfloat16", "given together with bf16 (its newer name); keep one"},
    {"not_an_object", "[1, 2]", "", "expected a JSON object at the top level, got array"},
    {"block_not_object", "{" BASE "\"fp16\": true}", "fp16", "expected an object, got true"},
};

#undef BASE
#undef TRIAD

class DsConfigNegativeTest : public ::testing::TestWithParam<NegativeCase> {};

TEST_P(DsConfigNegativeTest, ReportsPathAndMessage) {
  const NegativeCase& c = GetParam();
  absl::StatusOr<nlohmann::json> raw = ReadTolerantJson(c.config, c.name);
  ASSERT_TRUE(raw.ok()) << raw.status();
  TrainingArguments args;
  for (const auto& [flag, value] : c.flags) ASSERT_TRUE(SetArgument(args, flag, value).ok());
  DsResolveOptions options;
  options.world_size = c.world_size;
  // Cases without flags check DeepSpeed's own rules, with no HF Trainer in between.
  options.args = c.flags.empty() ? nullptr : &args;
  Diagnostics diag;
  ResolveDsConfig(*raw, options, diag);
  std::vector<std::string> errors;
  for (const ConfigIssue& e : diag.errors()) errors.push_back(e.ToString());
  EXPECT_THAT(errors, ::testing::Contains(ConfigIssue{c.path, c.message}.ToString()))
      << ::testing::PrintToString(errors);
  // The Status form carries the same line.
  absl::Status status = diag.ToStatus("cfg.json");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Table, DsConfigNegativeTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<NegativeCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(DsConfigRejectionTest, TableHasAtLeastFortyCases) {
  EXPECT_GE(sizeof(kCases) / sizeof(kCases[0]), 40u);
}

TEST(DsConfigRejectionTest, ReportsEveryErrorInOneRound) {
  absl::StatusOr<nlohmann::json> raw = ReadTolerantJson(
      R"({"train_batch_size": 16, "train_micro_batch_size_per_gpu": 2,
          "gradient_accumulation_steps": 8, "optimizer": {"type": "Lion"},
          "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "nvme"}},
          "fp16": {"enabled": true}, "bf16": {"enabled": true}})",
      "cfg.json");
  ASSERT_TRUE(raw.ok());
  DsResolveOptions options;
  options.world_size = 2;
  Diagnostics diag;
  ResolveDsConfig(*raw, options, diag);
  std::vector<std::string> paths;
  for (const ConfigIssue& e : diag.errors()) paths.push_back(e.path);
  EXPECT_THAT(paths, ::testing::UnorderedElementsAre("zero_optimization.offload_optimizer.device",
                                                     "fp16.enabled", "optimizer.type",
                                                     "train_batch_size"));
  EXPECT_EQ(diag.ToStatus("cfg.json").message(),
            "cfg.json: 4 errors\n"
            "  zero_optimization.offload_optimizer.device: \"nvme\" is not supported by zerotune "
            "(none or cpu)\n"
            "  fp16.enabled: bfloat16 and fp16 modes cannot be simultaneously enabled "
            "(bf16.enabled is true)\n"
            "  optimizer.type: \"Lion\" is not supported by zerotune (Adam or AdamW)\n"
            "  train_batch_size: train_batch_size is not equal to train_micro_batch_size_per_gpu "
            "* gradient_accumulation_steps * world_size: 16 != 2 * 8 * 2; for world size 2 set "
            "gradient_accumulation_steps to 4 or train_batch_size to 32");
}

TEST(DsConfigRejectionTest, WarnsForIgnoredAndLoggingKeys) {
  absl::StatusOr<nlohmann::json> raw = ReadTolerantJson(
      R"({"train_batch_size": 8, "optimizer": {"type": "AdamW"}, "steps_per_print": 10,
          "tensorboard": {"enabled": true}, "comms_config": {},
          "zero_optimization": {"stage": 2, "round_robin_gradients": true,
                                "offload_param": {"device": "cpu"}}})",
      "cfg.json");
  ASSERT_TRUE(raw.ok());
  Diagnostics diag;
  DsConfig c = ResolveDsConfig(*raw, DsResolveOptions{}, diag);
  EXPECT_FALSE(diag.has_errors()) << diag.ToStatus("cfg.json");
  std::vector<std::string> warnings;
  for (const ConfigIssue& w : c.warnings) warnings.push_back(w.ToString());
  EXPECT_THAT(warnings,
              ::testing::UnorderedElementsAre(
                  "steps_per_print: 10 only changes DeepSpeed's logging; zerotune ignores it "
                  "(metrics go to metrics.jsonl and the progress line)",
                  "comms_config: unknown key; ignored",
                  "zero_optimization.round_robin_gradients: true is accepted and ignored: only "
                  "reorders DeepSpeed's CPU-offload copies; the result is the same",
                  "zero_optimization.offload_param: is ignored below ZeRO stage 3 (DeepSpeed "
                  "ignores it too); stage is 2",
                  "tensorboard.enabled: true only changes DeepSpeed's logging; zerotune ignores it "
                  "(metrics go to metrics.jsonl, metrics.csv and trainer_state.json)"));
  EXPECT_EQ(c.zero.offload_param.device, OffloadDevice::kNone);
}

// A public config the newest DeepSpeed rejects: transformers' own tests/deepspeed
// ds_config_zero3.json sets reduce_bucket_size 0 (gt=0 since DeepSpeed 0.19.x).
TEST(DsConfigRejectionTest, HfZero3TestConfigIsRejectedLikeNewestDeepSpeed) {
  DsResolveOptions options;
  absl::StatusOr<DsConfig> c =
      LoadDsConfig(testing::TestData("configs/hf_tests_zero3.json"), options);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              ::testing::HasSubstr("zero_optimization.reduce_bucket_size: expected an integer > 0, got 0"));
}

TEST(DsConfigRejectionTest, AutoTensorParallelPublicConfigIsRejected) {
  TrainingArguments args;
  DsResolveOptions options;
  options.args = &args;
  options.world_size = 4;
  absl::StatusOr<DsConfig> c =
      LoadDsConfig(testing::TestData("configs/dsexamples_tp_hf_integration.json"), options);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              ::testing::HasSubstr("tensor_parallel.autotp_size: 4 is not supported by zerotune"));
}

}  // namespace
}  // namespace zt::configs
