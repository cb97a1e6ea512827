// Logits and loss of the decoder against HF transformers (tests/data/models, fp32, eager
// attention): ‖out − ref‖₂ / ‖ref‖₂ ≤ 1e-5, on every test device.
#include "worker/model/decoder.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_devices.h"
#include "tests/worker/model/golden_models.h"

namespace zt::worker::model {
namespace {

using ::testing::HasSubstr;
using testing::GoldenCases;
using testing::GoldenDir;
using testing::GoldenTensors;
using testing::RelativeError;

Decoder LoadGolden(const testing::GoldenCase& c, at::ScalarType dtype = at::kFloat) {
  auto weights = io::ShardedSafetensors::Open(GoldenDir(c.name));
  EXPECT_TRUE(weights.ok()) << weights.status();
  auto decoder = Decoder::Load(c.config, *weights, dtype);
  EXPECT_TRUE(decoder.ok()) << decoder.status();
  return std::move(*decoder);
}

class DecoderGoldenTest : public ::testing::TestWithParam<testing::GoldenCase> {};

// On every test device (tests/support/test_devices.h): the CPU, and cuda:0 on a GPU host.
TEST_P(DecoderGoldenTest, LogitsAndLossMatchTransformers) {
  const testing::GoldenCase& c = GetParam();
  for (const c10::Device& device : zt::testing::TestDevices()) {
    SCOPED_TRACE(device.str());
    Decoder decoder = LoadGolden(c);
    decoder.To(device);
    auto golden = GoldenTensors(c.name);
    const at::Tensor ids = golden->Get("input_ids")->to(device);
    const at::Tensor mask = golden->Get("attention_mask")->to(device);
    const at::Tensor logits = decoder.Logits(ids, mask);
    EXPECT_EQ(logits.device(), device);
    EXPECT_LE(RelativeError(logits.cpu(), *golden->Get("logits")), 1e-5) << c.name;
    const at::Tensor labels = ids.masked_fill(mask == 0, -100);
    EXPECT_LE(RelativeError(CausalLmLoss(logits, labels).cpu(), *golden->Get("loss")), 1e-5)
        << c.name;
    // The unpadded row does not depend on the mask path: plain causal attention agrees.
    const at::Tensor row0 = decoder.Logits(ids.narrow(0, 0, 1), at::Tensor());
    EXPECT_LE(RelativeError(row0.cpu(), golden->Get("logits")->narrow(0, 0, 1)), 1e-5) << c.name;
  }
}

TEST_P(DecoderGoldenTest, Bf16StaysCloseToTheFp32Reference) {
  const testing::GoldenCase& c = GetParam();
  Decoder decoder = LoadGolden(c, at::kBFloat16);
  auto golden = GoldenTensors(c.name);
  const at::Tensor logits = decoder.Logits(*golden->Get("input_ids"), *golden->Get("attention_mask"));
  EXPECT_EQ(logits.scalar_type(), at::kBFloat16);
  EXPECT_LE(RelativeError(logits, *golden->Get("logits")), 2e-2) << c.name;
}

INSTANTIATE_TEST_SUITE_P(Models, DecoderGoldenTest, ::testing::ValuesIn(GoldenCases()),
                         [](const auto& info) { return info.param.name; });

TEST(DecoderTest, TiedModelSharesTheEmbeddingAndCountsItOnce) {
  Decoder decoder = LoadGolden(GoldenCases()[1]);
  EXPECT_TRUE(decoder.lm_head().is_same(decoder.embed_tokens()));
  int64_t stored = 0;
  for (const auto& [name, t] : decoder.BaseStateDict()) {
    EXPECT_NE(name, "lm_head.weight");
    stored += t.numel();
  }
  EXPECT_EQ(decoder.config().ParameterCount(), stored);
}

TEST(DecoderTest, WeightsAliasTheMappedFile) {
  auto weights = io::ShardedSafetensors::Open(GoldenDir("llama"));
  ASSERT_TRUE(weights.ok());
  auto decoder = Decoder::Load(GoldenCases()[3].config, *weights, at::kFloat);
  ASSERT_TRUE(decoder.ok());
  const at::Tensor& w = decoder->layers()[1].down_proj.weight;
  EXPECT_TRUE(weights->files()[0]->mapping().Contains(w.data_ptr(), w.nbytes()));
}

TEST(DecoderTest, WrongConfigIsReportedWithTensorAndShapes) {
  auto weights = io::ShardedSafetensors::Open(GoldenDir("qwen2"));
  ASSERT_TRUE(weights.ok());
  DecoderConfig config = GoldenCases()[0].config;
  config.intermediate_size = 48;
  auto wrong = Decoder::Load(config, *weights, at::kFloat);
  EXPECT_THAT(wrong.status().message(),
              HasSubstr("tensor \"model.layers.0.mlp.gate_proj.weight\" has shape [64, 32], "
                        "expected [48, 32]"));
  config = GoldenCases()[0].config;
  config.qkv_bias = false;  // a Llama reading of a Qwen2 file leaves the biases unused
  auto unused = Decoder::Load(config, *weights, at::kFloat);
  EXPECT_THAT(unused.status().message(), HasSubstr("does not have, e.g. \"model.layers.0.self_attn"));
  config = GoldenCases()[0].config;
  config.num_kv_heads = 3;
  EXPECT_THAT(Decoder::Load(config, *weights, at::kFloat).status().message(),
              HasSubstr("num_attention_heads = 4 is not a multiple of num_key_value_heads = 3"));
}

}  // namespace
}  // namespace zt::worker::model

namespace zt::worker::model {
namespace {

TEST_P(DecoderGoldenTest, KvCacheDecodingMatchesFullRecomputeAndTransformersGreedy) {
  const testing::GoldenCase& c = GetParam();
  Decoder decoder = LoadGolden(c);
  auto golden = GoldenTensors(c.name);
  const at::Tensor ids = golden->Get("input_ids")->narrow(0, 0, 1);
  at::NoGradGuard no_grad;
  // Prefill 5, then a chunk of 4 (past > 0, several queries: the shifted causal mask), then 3
  // single steps: the same logits as one full pass.
  KvCache cache;
  std::vector<at::Tensor> parts{decoder.Logits(ids.narrow(1, 0, 5), {}, {}, &cache),
                                decoder.Logits(ids.narrow(1, 5, 4), {}, {}, &cache)};
  for (int64_t t = 9; t < ids.size(1); ++t) {
    parts.push_back(decoder.Logits(ids.narrow(1, t, 1), {}, {}, &cache));
  }
  EXPECT_EQ(cache.length(), ids.size(1));
  EXPECT_LE(RelativeError(at::cat(parts, 1), decoder.Logits(ids, {})), 1e-6) << c.name;
  const std::vector<int64_t> greedy = GreedyGenerate(decoder, ids.narrow(1, 0, 8), 6);
  const at::Tensor expected = *golden->Get("greedy");
  EXPECT_EQ(greedy, std::vector<int64_t>(expected.data_ptr<int64_t>(),
                                         expected.data_ptr<int64_t>() + expected.numel()))
      << c.name;
}

TEST(DecoderTest, LeftPaddingStaysFiniteAndPaddedKeysAreIgnored) {
  Decoder decoder = LoadGolden(GoldenCases()[2]);
  auto golden = GoldenTensors("qwen3");
  const at::Tensor ids = golden->Get("input_ids")->narrow(0, 0, 1);
  // Left padding: the first two queries see no real key; they must not turn into NaN.
  at::Tensor mask = at::ones_like(ids);
  mask.narrow(1, 0, 2).zero_();
  const at::Tensor logits = decoder.Logits(ids, mask);
  EXPECT_TRUE(logits.isfinite().all().item<bool>());
  // Changing a padded token changes nothing at the real positions.
  at::Tensor other = ids.clone();
  other[0][0] = (other[0][0].item<int64_t>() + 1) % 128;
  EXPECT_TRUE(at::allclose(decoder.Logits(other, mask).narrow(1, 2, ids.size(1) - 2),
                           logits.narrow(1, 2, ids.size(1) - 2)));
}

// Records the units a forward asks about (the asynchronous offload step's per-layer waits).
class UnitRecorder : public sharding::ParameterReadiness {
 public:
  void WaitForUnit(int unit) override { units.push_back(unit); }
  std::vector<int> units;
};

// Every unit waits before it reads its tensors, in forward order: the embedding, each layer,
// the final norm, lm_head; with checkpointing too (the recompute runs after backward began,
// when the engine has waited for everything). The values are those of a forward without it.
TEST(DecoderTest, ParameterReadinessIsAskedBeforeEveryUnitInForwardOrder) {
  Decoder decoder = LoadGolden(GoldenCases()[2]);
  auto golden = GoldenTensors("qwen3");
  const at::Tensor ids = golden->Get("input_ids")->narrow(0, 0, 1);
  const int layers = static_cast<int>(decoder.layers().size());
  std::vector<int> expected;
  for (int u = 0; u <= layers + 2; ++u) expected.push_back(u);
  for (bool checkpointing : {false, true}) {
    SCOPED_TRACE(checkpointing);
    UnitRecorder recorder;
    ForwardOptions options;
    options.gradient_checkpointing = checkpointing;
    options.parameter_readiness = &recorder;
    const at::Tensor logits = decoder.Logits(ids, at::Tensor(), options);
    EXPECT_EQ(recorder.units, expected);
    EXPECT_TRUE(at::equal(logits, decoder.Logits(ids, at::Tensor())));
  }
}

TEST(DecoderTest, ConfigFromConfigJsonMatchesTheGoldenTable) {
  for (const testing::GoldenCase& c : GoldenCases()) {
    auto parsed = LoadDecoderConfig(GoldenDir(c.name));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->arch, c.config.arch) << c.name;
    EXPECT_EQ(parsed->head_dim, c.config.head_dim) << c.name;
    EXPECT_EQ(parsed->num_kv_heads, c.config.num_kv_heads) << c.name;
    EXPECT_EQ(parsed->qkv_bias, c.config.qkv_bias) << c.name;
    EXPECT_EQ(parsed->qk_norm, c.config.qk_norm) << c.name;
    EXPECT_EQ(parsed->tie_word_embeddings, c.config.tie_word_embeddings) << c.name;
    EXPECT_EQ(parsed->rope_theta, c.config.rope_theta) << c.name;
    EXPECT_EQ(parsed->ParameterCount(), c.config.ParameterCount()) << c.name;
  }
}

}  // namespace
}  // namespace zt::worker::model
