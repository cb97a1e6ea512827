// `zerotune estimate` (coordinator/estimate_command.h) on a hand-sized model whose bytes are
// worked out below from the engine's layout rules (partition.h: buckets in reverse forward order,
// each padded to a multiple of world_size * 2; sharding/zero/model_state_estimate.h), its table and
// JSON faces, and its errors naming the flag or the file. The equality with what the engine
// allocates is tests/sharding/zero_estimate_multirank_test.cc.
#include "coordinator/estimate_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"

namespace zt::coordinator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// qwen2, vocab 16, hidden 8, one layer, 2 heads of 4 (1 kv head), intermediate 16, tied:
// 744 base parameters (embedding 128, norms 16 + 8, q 64+8, k 32+4, v 32+4, o 64, MLP 384).
// LoRA r 2 on q_proj (A 2x8, B 8x2) and v_proj (A 2x8, B 4x2): 16 + 16 + 16 + 8 = 56.
constexpr char kConfig[] = R"({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"],
  "vocab_size": 16, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
  "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": true,
  "max_position_embeddings": 64, "torch_dtype": "bfloat16"})";

struct EstimateRun {
  int code = -1;
  std::string out;
  std::string err;
};

class EstimateCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.Join("config.json")) << kConfig;
    WriteDs(R"({"train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": 1,
      "bf16": {"enabled": "auto"},
      "zero_optimization": {"stage": 2, "reduce_bucket_size": 20,
                            "offload_optimizer": {"device": "cpu"}}})");
    request_.model = dir_.path();
    request_.num_gpus = 3;
    request_.args.deepspeed = dir_.Join("ds.json");
    request_.args.bf16 = true;
    request_.args.use_lora = true;
    request_.args.lora_r = 2;
    request_.args.lora_target_modules = "q_proj,v_proj";
  }
  void WriteDs(const std::string& text) { std::ofstream(dir_.Join("ds.json")) << text; }
  EstimateRun Estimate() {
    std::ostringstream out, err;
    EstimateRun run;
    run.code = RunEstimate(request_, out, err);
    run.out = out.str();
    run.err = err.str();
    return run;
  }

  zt::testing::TempDir dir_;
  EstimateRequest request_;
};

TEST_F(EstimateCommandTest, JsonBytesFollowTheEnginesPaddedLayout) {
  request_.json = true;
  EstimateRun run = Estimate();
  ASSERT_EQ(run.code, 0) << run.err;
  nlohmann::json j = nlohmann::json::parse(run.out);
  EXPECT_EQ(j["total_params"], 800);
  EXPECT_EQ(j["trainable_params"], 56);
  EXPECT_EQ(j["param_dtype"], "bf16");
  EXPECT_EQ(j["configured_stage"], 2);
  EXPECT_EQ(j["parameter_groups"], 1);  // LoRA factors all decay
  const nlohmann::json& s = j["stages"];
  ASSERT_EQ(s.size(), 4u);
  // Stage 0: one partition (alignment 2): buckets v.B 8 | v.A 16 | q.B 16 | q.A 16 = 56.
  EXPECT_EQ(s[0]["partition_numel"], 56);
  EXPECT_EQ(s[0]["base_weights"]["bytes"], 744 * 2);
  EXPECT_EQ(s[0]["trainable_parameters"]["bytes"], 56 * 2);
  EXPECT_EQ(s[0]["gradients"]["bytes"], 56 * 2);
  EXPECT_EQ(s[0]["optimizer_state"]["bytes"], 4 * 56 * 4);
  EXPECT_EQ(s[0]["optimizer_state"]["location"], "device");  // no offload at stage 0
  EXPECT_EQ(s[0]["update_buffer"]["bytes"], 0);
  // Stages 1 and 2 over 3 ranks: each bucket padded to a multiple of 6: 12 + 18 + 18 + 18 = 66,
  // 22 elements per rank; fp32 master, moments and gradient, plus the bf16 host staging copy.
  for (int stage : {1, 2}) {
    SCOPED_TRACE(stage);
    EXPECT_EQ(s[stage]["partition_numel"], 22);
    EXPECT_EQ(s[stage]["trainable_parameters"]["bytes"], 66 * 2);
    EXPECT_EQ(s[stage]["gradients"]["bytes"], 22 * 2);
    EXPECT_EQ(s[stage]["optimizer_state"]["bytes"], 4 * 22 * 4 + 22 * 2);
    EXPECT_EQ(s[stage]["optimizer_state"]["location"], "host");
    EXPECT_EQ(s[stage]["update_buffer"]["bytes"], 22 * 2);
    EXPECT_EQ(s[stage]["host_bytes"], 4 * 22 * 4 + 22 * 2);
    EXPECT_EQ(s[stage]["device_bytes"], 744 * 2 + 66 * 2 + 22 * 2 + 22 * 2);
  }
  // Stage 3: ceil(n / 3) per tensor: 6 + 6 + 6 + 3.
  EXPECT_EQ(s[3]["partition_numel"], 21);
  EXPECT_EQ(s[3]["gradients"]["bytes"], 21 * 4);  // bf16 gradients accumulate in fp32
}

TEST_F(EstimateCommandTest, TablePerStageNamesTheConfiguredStageAndWhereBytesLive) {
  EstimateRun run = Estimate();
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("800 parameters (56 trainable, bf16), 3 data-parallel ranks"));
  EXPECT_THAT(run.out, HasSubstr("ZeRO stage 2 (configured)\n"));
  EXPECT_THAT(run.out, HasSubstr("ZeRO stage 3\n"));
  EXPECT_THAT(run.out, HasSubstr("ZeRO stage 1\n"
                                 "  per rank                         size            bytes  where\n"
                                 "  base weights (frozen)        1.45 KiB            1,488  device\n"
                                 "  trainable parameters            132 B              132  device\n"
                                 "  gradients                        44 B               44  device\n"
                                 "  optimizer state                 396 B              396  host\n"
                                 "  update buffer                    44 B               44  device\n"
                                 "  total on the device          1.67 KiB            1,708\n"
                                 "  total on the host               396 B              396\n"));
}

// An adapter being continued sizes the estimate with its own r and targets, as training does.
TEST_F(EstimateCommandTest, AContinuedAdapterIsSizedFromItsConfig) {
  request_.json = true;
  const EstimateRun flags = Estimate();
  ASSERT_EQ(flags.code, 0) << flags.err;
  std::filesystem::create_directories(dir_.Join("adapter"));
  std::ofstream(dir_.Join("adapter/adapter_config.json"))
      << R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["v_proj", "q_proj"]})";
  request_.args.adapter_name_or_path = dir_.Join("adapter");
  request_.args.lora_r = 16;  // what the adapter says wins, as in training
  request_.args.lora_target_modules = "all-linear";
  const EstimateRun adapter = Estimate();
  ASSERT_EQ(adapter.code, 0) << adapter.err;
  EXPECT_EQ(adapter.out, flags.out);
  request_.args.adapter_name_or_path = dir_.Join("no-adapter");
  const EstimateRun missing = Estimate();
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("error: --adapter_name_or_path: "));
  EXPECT_THAT(missing.err, HasSubstr(dir_.Join("no-adapter/adapter_config.json")));
}

TEST_F(EstimateCommandTest, ErrorsNameTheFlagOrTheFile) {
  EstimateRequest fresh = request_;
  request_.model = dir_.Join("missing");
  EstimateRun run = Estimate();
  EXPECT_EQ(run.code, 1);
  EXPECT_THAT(run.err, HasSubstr("error: --model: "));
  EXPECT_THAT(run.err, HasSubstr("missing"));

  request_ = fresh;
  request_.preset = "qwen3-14b";
  run = Estimate();
  EXPECT_EQ(run.code, 1);
  EXPECT_THAT(run.err, HasSubstr("error: --preset: give --preset qwen3-14b or --model "));

  request_ = fresh;
  request_.model.clear();
  request_.preset = "qwen9";
  run = Estimate();
  EXPECT_EQ(run.code, 1);
  EXPECT_THAT(run.err, HasSubstr("error: --preset \"qwen9\", expected one of qwen2.5-0.5b, "));

  request_ = fresh;
  request_.num_gpus = 0;
  run = Estimate();
  EXPECT_EQ(run.err, "error: --num_gpus: must be >= 1, got 0\n");

  request_ = fresh;
  request_.args.lora_target_modules = "c_attn";
  run = Estimate();
  EXPECT_EQ(run.code, 1);
  EXPECT_THAT(run.err, HasSubstr("error: --lora_target_modules: c_attn matches no module"));

  request_ = fresh;
  WriteDs(R"({"train_micro_batch_size_per_gpu": 1, "zero_optimization": {"stage": 7}})");
  run = Estimate();
  EXPECT_EQ(run.code, 1);
  EXPECT_THAT(run.err, HasSubstr("error: " + dir_.Join("ds.json") + ": zero_optimization.stage"));
}

// Without --deepspeed: what train runs without one, stage 0 in the precision of --bf16.
TEST_F(EstimateCommandTest, WithoutDeepspeedStageZeroIsConfigured) {
  request_.args.deepspeed.clear();
  request_.args.per_device_train_batch_size = 1;
  request_.json = true;
  EstimateRun run = Estimate();
  ASSERT_EQ(run.code, 0) << run.err;
  nlohmann::json j = nlohmann::json::parse(run.out);
  EXPECT_EQ(j["configured_stage"], 0);
  EXPECT_EQ(j["param_dtype"], "bf16");
}

// --q_lora: the frozen linears as bitsandbytes stores them (hand-computed, see
// tests/sharding/activation_estimate_test.cc for Quant4WeightBytes): q 64 and o 64 elements:
// 32 packed + 1 absmax code + 4 nested absmax + 1024 nested map + 64 map = 1125 each; k and v
// (32): 1109 each; gate, up, down (128, 2 blocks): 1158 each: 7942. The 168 unquantized
// elements (embedding, norms, q/k/v biases) in bf16: 336.
// Stage 3 at the fixture's 3 ranks: each linear's storage / 3, rounded up (q, o 375; k, v 370;
// gate, up, down 386: 2,648; without double quantization 34, 28, 46: 262); the unquantized
// tensors stay whole (under stage3_param_persistence_threshold).
struct QloraCase {
  const char* name;
  bool double_quant;
  std::string kbit_upcast;
  int64_t base_bytes;
  int64_t stage3_base_bytes;
};

TEST_F(EstimateCommandTest, QloraBaseWeightsAreTheFourBitStorage) {
  const QloraCase cases[] = {
      {"double quant", true, "none", 7942 + 168 * 2, 2648 + 168 * 2},
      // No double quantization: 4 B absmax per block: 100 + 84 + 84 + 100 + 3 · 136 = 776.
      {"no double quant", false, "none", 776 + 168 * 2, 262 + 168 * 2},
      {"kbit_upcast fp32", true, "fp32", 7942 + 168 * 4, 2648 + 168 * 4},
  };
  for (const QloraCase& c : cases) {
    SCOPED_TRACE(c.name);
    request_.args.q_lora = true;
    request_.args.bnb_4bit_use_double_quant = c.double_quant;
    request_.args.kbit_upcast = c.kbit_upcast;
    request_.args.per_device_train_batch_size = 1;
    request_.json = true;
    EstimateRun run = Estimate();
    ASSERT_EQ(run.code, 0) << run.err;
    const nlohmann::json s = nlohmann::json::parse(run.out)["stages"];
    for (int stage : {0, 1, 2}) EXPECT_EQ(s[stage]["base_weights"]["bytes"], c.base_bytes);
    EXPECT_FALSE(s[3].contains("refused"));
    EXPECT_EQ(s[3]["base_weights"]["bytes"], c.stage3_base_bytes);
  }
}

// One micro-batch of 8 tokens with checkpointing (activation_estimate_test.cc's tiny case: the
// same shapes, LoRA r 2 on q and v, the default lora_dropout 0.05): layer inputs 128 + one
// recomputed layer (360 + 64 dropout) · 8 = 3,392 + loss 1,408; temporaries: backward gradients
// 768 + the dequantized gate/up weight 256.
TEST_F(EstimateCommandTest, QloraCountsActivationsAndTemporariesOnTheDevice) {
  request_.args.q_lora = true;
  request_.args.per_device_train_batch_size = 1;
  request_.args.model_max_length = 8;
  request_.args.gradient_checkpointing = true;
  request_.json = true;
  EstimateRun run = Estimate();
  ASSERT_EQ(run.code, 0) << run.err;
  const nlohmann::json s = nlohmann::json::parse(run.out)["stages"];
  const int64_t activations = 128 + 3392 + 1408, temporaries = 768 + 256;
  for (int stage : {0, 1, 2}) {
    SCOPED_TRACE(stage);
    EXPECT_EQ(s[stage]["activations"]["bytes"], activations);
    EXPECT_EQ(s[stage]["temporary_buffers"]["bytes"], temporaries);
    EXPECT_EQ(s[stage]["activations"]["location"], "device");
  }
  EXPECT_EQ(s[0]["device_bytes"], 8278 + 56 * 2 + 56 * 2 + 4 * 56 * 4 + activations + temporaries);
  request_.json = false;
  run = Estimate();
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("  activations                  4.81 KiB            4,928  device\n"
                                 "  temporary buffers            1.00 KiB            1,024  device\n"));
  EXPECT_THAT(run.out, Not(HasSubstr("refused")));
}

// The guide's case: Qwen3-14B, QLoRA r 8 on every linear, 2048 tokens, micro batch 1,
// checkpointing, one GPU: the preset sizes it without a config.json.
TEST_F(EstimateCommandTest, PresetQwen3_14bQlora) {
  request_.model.clear();
  request_.preset = "qwen3-14b";
  request_.args.deepspeed.clear();
  request_.num_gpus = 1;
  request_.args.q_lora = true;
  request_.args.lora_r = 8;
  request_.args.lora_target_modules = "all-linear";
  request_.args.model_max_length = 2048;
  request_.args.per_device_train_batch_size = 1;
  request_.args.gradient_checkpointing = true;
  request_.json = true;
  EstimateRun run = Estimate();
  ASSERT_EQ(run.code, 0) << run.err;
  const nlohmann::json j = nlohmann::json::parse(run.out);
  // 40 layers of q, o (5120²), k, v (1024·5120), gate, up, down (17408·5120) in 4-bit, and the
  // untied embedding and lm_head (151936·5120 each) with 81 norms of 5120 and 80 of 128 in bf16.
  const int64_t h = 5120, kv = 1024, i = 17408, v = 151936;
  auto q4 = [](int64_t n) {
    const int64_t blocks = (n + 63) / 64;
    return n / 2 + blocks + (blocks + 255) / 256 * 4 + 1088;
  };
  const int64_t base = 40 * (2 * q4(h * h) + 2 * q4(kv * h) + 3 * q4(i * h)) +
                       2 * (2 * v * h + 81 * h + 80 * 128);
  EXPECT_EQ(j["stages"][0]["base_weights"]["bytes"], base);
  // LoRA r 8 on all 7 linears: 8 · (in + out) summed per layer = 802,816; 40 layers.
  EXPECT_EQ(j["trainable_params"], 40 * 802816);
}

}  // namespace
}  // namespace zt::coordinator
