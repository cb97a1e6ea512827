// LoRA against PEFT (tests/data/models/{qwen2,qwen3}: adapters PEFT saved, with random non-zero
// A and B): logits, loss and adapter gradients with checkpointing off and on; the saved adapter
// format; merging; PEFT's trainable-params line; checkpointing bitwise with dropout.
#include "worker/model/lora_model.h"

#include <fstream>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"
#include "tests/worker/model/golden_models.h"

namespace zt::worker::model {
namespace {

using ::testing::HasSubstr;
using testing::GoldenDir;
using testing::GoldenTensors;
using testing::RelativeError;

Decoder LoadBase(const std::string& name) {
  auto config = LoadDecoderConfig(GoldenDir(name));
  EXPECT_TRUE(config.ok()) << config.status();
  auto weights = io::ShardedSafetensors::Open(GoldenDir(name));
  EXPECT_TRUE(weights.ok()) << weights.status();
  auto decoder = Decoder::Load(*config, *weights, at::kFloat);
  EXPECT_TRUE(decoder.ok()) << decoder.status();
  return std::move(*decoder);
}

Decoder LoadWithPeftAdapter(const std::string& name) {
  Decoder decoder = LoadBase(name);
  auto adapter = io::ReadPeftAdapter(GoldenDir(name) + "/adapter");
  EXPECT_TRUE(adapter.ok()) << adapter.status();
  absl::Status attached = AttachPeftAdapter(decoder, *adapter);
  EXPECT_TRUE(attached.ok()) << attached;
  return decoder;
}

configs::LoraTargetModules Targets(const std::string& text) {
  return *configs::ParseLoraTargetModules(text);
}

class PeftGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PeftGoldenTest, LogitsAndLossWithAdapterMatchPeft) {
  Decoder decoder = LoadWithPeftAdapter(GetParam());
  auto golden = GoldenTensors(GetParam());
  const at::Tensor ids = *golden->Get("input_ids"), mask = *golden->Get("attention_mask");
  const at::Tensor logits = decoder.Logits(ids, mask);
  EXPECT_LE(RelativeError(logits, *golden->Get("lora_logits")), 1e-5);
  EXPECT_LE(RelativeError(CausalLmLoss(logits, ids.masked_fill(mask == 0, -100)),
                          *golden->Get("lora_loss")), 1e-5);
}

TEST_P(PeftGoldenTest, AdapterGradientsMatchPeftWithCheckpointingOffAndOn) {
  for (bool checkpointing : {false, true}) {
    Decoder decoder = LoadWithPeftAdapter(GetParam());
    SetTrainable(decoder, /*train_base=*/false);
    auto golden = GoldenTensors(GetParam());
    const at::Tensor ids = *golden->Get("input_ids"), mask = *golden->Get("attention_mask");
    ForwardOptions options{/*training=*/true, checkpointing};
    CausalLmLoss(decoder.Logits(ids, mask, options), ids.masked_fill(mask == 0, -100)).backward();
    int compared = 0;
    for (auto& [name, tensor] : decoder.NamedTensors()) {
      if (!tensor->requires_grad()) continue;
      ASSERT_TRUE(tensor->grad().defined()) << name;
      EXPECT_LE(RelativeError(tensor->grad(), *golden->Get("grad." + PeftTensorName(name))), 1e-5)
          << name << " checkpointing=" << checkpointing;
      ++compared;
    }
    EXPECT_EQ(compared, 2 * static_cast<int>(LoraModuleNames(decoder).size()));
    EXPECT_GT(compared, 0);
  }
}

TEST_P(PeftGoldenTest, MergedWeightsGiveTheAdapterLogits) {
  Decoder decoder = LoadWithPeftAdapter(GetParam());
  MergeLora(decoder);
  EXPECT_TRUE(LoraModuleNames(decoder).empty());
  auto golden = GoldenTensors(GetParam());
  const at::Tensor logits = decoder.Logits(*golden->Get("input_ids"), *golden->Get("attention_mask"));
  EXPECT_LE(RelativeError(logits, *golden->Get("lora_logits")), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Peft, PeftGoldenTest, ::testing::Values("qwen2", "qwen3"));

TEST(LoraModelTest, TrainableParamsLineMatchesPeft) {
  // PEFT 0.21.2 print_trainable_parameters() on the same model and adapter.
  Decoder qwen2 = LoadWithPeftAdapter("qwen2");
  SetTrainable(qwen2, false);
  EXPECT_EQ(SummarizeParameters(qwen2).ToString(),
            "trainable params: 4,096 || all params: 31,008 || trainable%: 13.2095");
  Decoder qwen3 = LoadWithPeftAdapter("qwen3");
  SetTrainable(qwen3, false);
  EXPECT_EQ(SummarizeParameters(qwen3).ToString(),
            "trainable params: 4,096 || all params: 37,088 || trainable%: 11.0440");
}

std::set<std::string> Keys(const nlohmann::json& j) {
  std::set<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.insert(k);
  return keys;
}

TEST(LoraModelTest, SavedAdapterHasPeftsFormatAndRoundTrips) {
  Decoder decoder = LoadBase("qwen2");
  LoraOptions options;
  options.r = 4;
  options.lora_alpha = 16;
  options.target_modules = Targets("all-linear");
  options.init_b_zero = false;
  ASSERT_TRUE(ApplyLora(decoder, options, 3).ok());
  ::zt::testing::TempDir dir;
  const io::NamedTensors tensors = LoraStateDict(decoder);
  ASSERT_TRUE(io::WritePeftAdapter(dir.path(), PeftConfigFor(decoder, options, "base"), tensors).ok());

  auto ours = io::ReadPeftAdapter(dir.path());
  auto peft = io::ReadPeftAdapter(GoldenDir("qwen2") + "/adapter");
  ASSERT_TRUE(ours.ok()) << ours.status();
  ASSERT_TRUE(peft.ok()) << peft.status();
  EXPECT_EQ(ours->tensors->Names(), peft->tensors->Names());
  for (const std::string& name : peft->tensors->Names()) {
    const at::Tensor a = *ours->tensors->Get(name), b = *peft->tensors->Get(name);
    EXPECT_EQ(a.sizes(), b.sizes()) << name;
    EXPECT_EQ(a.scalar_type(), b.scalar_type()) << name;
  }
  EXPECT_EQ(ours->tensors->header().metadata, peft->tensors->header().metadata);
  auto read_json = [](const std::string& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
  };
  const nlohmann::json our_cfg = read_json(dir.Join("adapter_config.json"));
  const nlohmann::json peft_cfg = read_json(GoldenDir("qwen2") + "/adapter/adapter_config.json");
  EXPECT_EQ(Keys(our_cfg), Keys(peft_cfg));
  for (const char* key : {"r", "lora_alpha", "target_modules", "peft_type", "task_type",
                          "use_rslora", "bias", "inference_mode"}) {
    EXPECT_EQ(our_cfg[key], peft_cfg[key]) << key;
  }
  // Loading what we saved reproduces the adapted model's logits exactly.
  Decoder reloaded = LoadBase("qwen2");
  ASSERT_TRUE(AttachPeftAdapter(reloaded, *ours).ok());
  auto golden = GoldenTensors("qwen2");
  const at::Tensor ids = *golden->Get("input_ids");
  EXPECT_TRUE(at::equal(reloaded.Logits(ids, {}), decoder.Logits(ids, {})));
}

TEST(LoraModelTest, CheckpointingIsBitwiseEqualWithDropout) {
  std::vector<at::Tensor> grads[2];
  at::Tensor losses[2];
  for (int checkpointing = 0; checkpointing < 2; ++checkpointing) {
    Decoder decoder = LoadBase("qwen3");
    LoraOptions options;
    options.r = 4;
    options.lora_alpha = 8;
    options.lora_dropout = 0.1;
    options.target_modules = Targets("all-linear");
    options.init_b_zero = false;
    ASSERT_TRUE(ApplyLora(decoder, options, 9).ok());
    SetTrainable(decoder, false);  // frozen embedding: only explicit inputs carry gradients
    auto golden = GoldenTensors("qwen3");
    const at::Tensor ids = *golden->Get("input_ids"), mask = *golden->Get("attention_mask");
    at::manual_seed(1234);
    losses[checkpointing] = CausalLmLoss(
        decoder.Logits(ids, mask, {/*training=*/true, checkpointing == 1}),
        ids.masked_fill(mask == 0, -100));
    losses[checkpointing].backward();
    for (auto& [name, t] : decoder.NamedTensors()) {
      if (t->requires_grad()) grads[checkpointing].push_back(t->grad().clone());
    }
    if (checkpointing == 0) {  // dropout really acted: the eval loss differs
      at::NoGradGuard no_grad;
      EXPECT_FALSE(at::equal(losses[0], CausalLmLoss(decoder.Logits(ids, mask), ids.masked_fill(mask == 0, -100))));
    }
  }
  EXPECT_TRUE(at::equal(losses[0], losses[1]));
  ASSERT_EQ(grads[0].size(), grads[1].size());
  ASSERT_EQ(grads[0].size(), 28u);  // 2 layers x 7 linears x (A, B)
  for (size_t i = 0; i < grads[0].size(); ++i) {
    EXPECT_GT(grads[0][i].abs().sum().item<double>(), 0) << i;
    EXPECT_TRUE(at::equal(grads[0][i], grads[1][i])) << "gradient " << i << " differs";
  }
}

TEST(LoraModelTest, UnmatchedTargetListsTheModules) {
  Decoder decoder = LoadBase("qwen2");
  LoraOptions options;
  options.target_modules = Targets("c_attn,q_proj");
  absl::Status status = ApplyLora(decoder, options, 0);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("c_attn matches no module"));
  EXPECT_THAT(status.message(), HasSubstr("down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj"));
  EXPECT_TRUE(LoraModuleNames(decoder).empty());
}

TEST(LoraModelTest, PeftInitialisationAndTargetsByRegex) {
  Decoder decoder = LoadBase("qwen2");
  LoraOptions options;
  options.r = 2;
  options.lora_alpha = 4;
  options.use_rslora = true;
  options.target_modules = Targets(R"(.*\.1\.self_attn\.(q_proj|v_proj))");
  ASSERT_TRUE(ApplyLora(decoder, options, 0).ok());
  EXPECT_EQ(LoraModuleNames(decoder),
            (std::vector<std::string>{"model.layers.1.self_attn.q_proj",
                                      "model.layers.1.self_attn.v_proj"}));
  const LoraAdapter& a = *decoder.layers()[1].q_proj.lora;
  EXPECT_DOUBLE_EQ(a.scaling, 4 / std::sqrt(2.0));
  EXPECT_EQ(a.a.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(a.b, at::zeros_like(a.b)));
  EXPECT_LE(a.a.abs().max().item<double>(), 1 / std::sqrt(32.0));  // U(±1/sqrt(in))
  EXPECT_GT(a.a.abs().max().item<double>(), 0.5 / std::sqrt(32.0));
}

TEST(LoraModelTest, AdapterForAnotherModelIsRejected) {
  Decoder decoder = LoadBase("llama");  // same module names as qwen2, no biases; shapes agree
  auto adapter = io::ReadPeftAdapter(GoldenDir("qwen3") + "/adapter");  // head_dim 16: q is 64 wide
  ASSERT_TRUE(adapter.ok());
  absl::Status status = AttachPeftAdapter(decoder, *adapter);
  EXPECT_THAT(status.message(), HasSubstr("expected ["));
  EXPECT_THAT(status.message(), HasSubstr("hint: maybe wrong base model?"));
}

// The attached adapter owns its tensors (training writes them; the mapped file stays as is).
TEST(LoraModelTest, AttachedAdapterDoesNotAliasTheFile) {
  Decoder decoder = LoadBase("qwen2");
  auto adapter = io::ReadPeftAdapter(GoldenDir("qwen2") + "/adapter");
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  ASSERT_TRUE(AttachPeftAdapter(decoder, *adapter).ok());
  const std::string name = "model.layers.0.self_attn.q_proj.lora_B.weight";
  const at::Tensor file = *adapter->tensors->Get(PeftTensorName(name));
  for (auto& [n, tensor] : decoder.NamedTensors()) {
    if (n != name) continue;
    EXPECT_TRUE(at::equal(*tensor, file));
    EXPECT_NE(tensor->data_ptr(), file.data_ptr());
  }
}

// An adapter trained further must hold exactly the modules its target_modules select.
TEST(LoraModelTest, AdapterMustCoverExactlyItsTargets) {
  auto peft = io::ReadPeftAdapter(GoldenDir("qwen2") + "/adapter");
  ASSERT_TRUE(peft.ok()) << peft.status();
  const std::string dropped = "model.layers.1.mlp.up_proj";
  io::NamedTensors kept;
  for (const std::string& name : peft->tensors->Names()) {
    if (name.find(dropped) == std::string::npos) kept.emplace_back(name, *peft->tensors->Get(name));
  }
  ::zt::testing::TempDir dir;
  ASSERT_TRUE(io::WritePeftAdapter(dir.path(), peft->config, kept).ok());
  auto partial = io::ReadPeftAdapter(dir.path());
  ASSERT_TRUE(partial.ok()) << partial.status();
  Decoder decoder = LoadBase("qwen2");
  ASSERT_TRUE(AttachPeftAdapter(decoder, *partial).ok());
  EXPECT_THAT(CheckAdapterMatchesTargets(decoder, Targets("all-linear"), *partial).message(),
              HasSubstr(dir.Join("adapter_model.safetensors") + ": tensor \"base_model.model." +
                        dropped + ".lora_A.weight\" of shape [4, 32] is missing"));
  EXPECT_THAT(CheckAdapterMatchesTargets(decoder, Targets("q_proj"), *partial).message(),
              HasSubstr("adapts module model.layers.0.self_attn.k_proj, which target_modules in "
                        "adapter_config.json ([\"q_proj\"]) does not select"));
  Decoder full = LoadBase("qwen2");
  ASSERT_TRUE(AttachPeftAdapter(full, *peft).ok());
  EXPECT_TRUE(CheckAdapterMatchesTargets(full, Targets("all-linear"), *peft).ok());
}

}  // namespace
}  // namespace zt::worker::model
