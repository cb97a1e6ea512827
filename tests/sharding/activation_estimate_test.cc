// `zerotune estimate`'s activation and 4-bit storage arithmetic (sharding/zero/activation_estimate.h,
// Quant4WeightBytes in model_state_estimate.h) against bytes worked out by hand.
#include "sharding/zero/activation_estimate.h"

#include <gtest/gtest.h>

#include "sharding/zero/model_state_estimate.h"

namespace zt::sharding {
namespace {

struct Quant4Case {
  int64_t numel;
  bool double_quant;
  int64_t blocksize;
  int64_t bytes;
};

TEST(Quant4WeightBytesTest, PackedCodesAbsmaxAndQuantMapsAsBitsandbytesStoresThem) {
  // packed ceil(n/2) + quant map 64 + (dq: 1 B per block + 4 B per 256 blocks + 1024; else 4 B
  // per block).
  const Quant4Case cases[] = {
      {64, true, 64, 32 + 1 + 4 + 1024 + 64},
      {64, false, 64, 32 + 4 + 64},
      {7, false, 64, 4 + 4 + 64},                                    // a partial block, odd numel
      {32769, true, 64, 16385 + 513 + 3 * 4 + 1024 + 64},            // 513 blocks: 3 nested
      {1000, false, 128, 500 + 8 * 4 + 64},                          // blocksize 128
      {5120 * 5120, true, 64, 13107200 + 409600 + 1600 * 4 + 1088},  // Qwen3-14B q_proj
  };
  for (const Quant4Case& c : cases) {
    SCOPED_TRACE(c.numel);
    EXPECT_EQ(Quant4WeightBytes(c.numel, c.double_quant, c.blocksize), c.bytes);
  }
}

// qwen2, hidden 8, intermediate 16, 1 layer, 2 heads of 4, 1 kv head, vocab 16.
configs::ModelConfig TinyModel() {
  configs::ModelConfig m;
  m.model_type = "qwen2";
  m.vocab_size = 16;
  m.hidden_size = 8;
  m.intermediate_size = 16;
  m.num_hidden_layers = 1;
  m.num_attention_heads = 2;
  m.num_key_value_heads = 1;
  m.head_dim = 4;
  return m;
}

struct ActivationCase {
  const char* name;
  bool checkpointing;
  bool q_lora;
  bool qk_norm;
  bool dropout;
  int64_t per_token;
  int64_t checkpoints;
  int64_t recomputed;
  int64_t dequantized;
};

TEST(ActivationEstimateTest, TermsOfOneMicroBatch) {
  // T = 2 x 4 = 8 tokens, bf16 (c = 2), LoRA r 2 on 2 linears of the layer.
  // Per token: norms 2·(4+2)·8 = 96, q/k/v and rotated 2·2·(8+8) = 64, SDPA 4·2·8 = 64,
  // MLP 4·2·16 = 128, LoRA 2·2·2 = 8: 360 (Qwen3's q/k norms add (4+2)·(8+4) = 72; LoRA
  // dropout on the two adapted 8-wide inputs adds mask and dropped input, 2·2·(8+8) = 64).
  const ActivationCase cases[] = {
      {"checkpointing", true, false, false, false, 360, 1 * 8 * 8 * 2, 360 * 8, 0},
      {"no checkpointing", false, false, false, false, 360, 360 * 8, 0, 0},
      {"q_lora", true, true, false, false, 360, 128, 360 * 8, 16 * 8 * 2},
      {"qk_norm", false, false, true, false, 432, 432 * 8, 0, 0},
      {"lora dropout", false, false, false, true, 424, 424 * 8, 0, 0},
  };
  for (const ActivationCase& c : cases) {
    SCOPED_TRACE(c.name);
    configs::ModelConfig m = TinyModel();
    m.qk_norm = c.qk_norm;
    ActivationSetup s;
    s.micro_batch = 2;
    s.seq_len = 4;
    s.gradient_checkpointing = c.checkpointing;
    s.lora_r = 2;
    s.adapted_per_layer = 2;
    s.adapted_in_features = 16;
    s.lora_dropout = c.dropout;
    s.q_lora = c.q_lora;
    EXPECT_EQ(LayerActivationBytesPerToken(m, s), c.per_token);
    const ActivationEstimate e = EstimateActivations(m, s);
    EXPECT_EQ(e.layer_checkpoints, c.checkpoints);
    EXPECT_EQ(e.recomputed_layer, c.recomputed);
    // Loss: 8 rows of 16 logits in fp32 twice and bf16 once, plus the final norm's output.
    EXPECT_EQ(e.loss, 8 * 16 * (4 + 4 + 2) + 8 * 8 * 2);
    EXPECT_EQ(e.backward_gradients, 8 * 2 * (2 * 8 + 2 * 16));
    EXPECT_EQ(e.dequantized_weight, c.dequantized);
    EXPECT_EQ(e.Activations(), c.checkpoints + c.recomputed + e.loss);
  }
}

TEST(ActivationEstimateTest, LossChunkRowsAreBoundedByTheChunkBytes) {
  configs::ModelConfig m = TinyModel();
  ActivationSetup s;
  s.micro_batch = 1;
  s.seq_len = 100;
  s.loss_chunk_bytes = 16 * 4 * 10;  // 10 fp32 rows
  EXPECT_EQ(EstimateActivations(m, s).loss, 10 * 16 * 10 + 100 * 8 * 2);
}

}  // namespace
}  // namespace zt::sharding
