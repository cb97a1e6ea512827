// The HF Trainer's decay / no-decay rule (transformers Trainer.get_decay_parameter_names) on the
// names our decoders and adapters carry.
#include "sharding/zero/parameter_groups.h"

#include <gtest/gtest.h>

namespace zt::sharding {
namespace {

TEST(ParameterGroupsTest, BiasesAndNormsAreExemptFromWeightDecay) {
  for (const char* name :
       {"model.layers.0.self_attn.q_proj.bias", "model.layers.0.input_layernorm.weight",
        "model.layers.0.post_attention_layernorm.weight", "model.norm.weight",
        "model.layers.3.self_attn.q_norm.weight", "model.layers.3.self_attn.k_norm.weight",
        "encoder.LayerNorm.weight", "block.RMSNorm.weight"}) {
    EXPECT_FALSE(HasWeightDecay(name)) << name;
  }
  for (const char* name :
       {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
        "model.layers.0.mlp.down_proj.lora_A.weight", "model.layers.0.mlp.up_proj.lora_B.weight",
        "lm_head.weight", "model.normalizer.weight"}) {
    EXPECT_TRUE(HasWeightDecay(name)) << name;
  }
}

TEST(ParameterGroupsTest, DecayGroupFirstEmptyGroupsLeftOut) {
  std::vector<DecayGroup> groups =
      DecayGroups({"a.weight", "a.bias", "model.norm.weight", "b.weight"});
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_TRUE(groups[0].decay);
  EXPECT_EQ(groups[0].params, (std::vector<int>{0, 3}));
  EXPECT_FALSE(groups[1].decay);
  EXPECT_EQ(groups[1].params, (std::vector<int>{1, 2}));
  groups = DecayGroups({"x.lora_A.weight", "x.lora_B.weight"});
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_TRUE(groups[0].decay);
}

}  // namespace
}  // namespace zt::sharding
