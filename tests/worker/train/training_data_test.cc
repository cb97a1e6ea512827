// Batches and the causal-LM loss the trainer uses, against the HF definitions.
#include "worker/train/training_data.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/temp_dir.h"
#include "worker/data/loss_mask.h"
#include "worker/model/decoder.h"

namespace zt::worker::train {
namespace {

data::TokenizedSample Sample(std::vector<int32_t> ids, std::vector<int32_t> labels) {
  data::TokenizedSample s;
  s.input_ids = std::move(ids);
  s.labels = std::move(labels);
  return s;
}

// A model folder without tokenizer files: config.json only (as the tiny test models).
TEST(LoadTrainingDataTest, PreTokenizedRecordsNeedNoTokenizerAndTakeThePadIdFromConfigJson) {
  struct Case {
    const char* config_ids;  // the config.json keys that set ids
    int32_t pad_id;
  };
  const Case cases[] = {
      {R"("pad_token_id": 7, "eos_token_id": 2)", 7},
      {R"("pad_token_id": null, "eos_token_id": [3, 2])", 3},
      {R"("eos_token_id": 2)", 2},
      {R"("bos_token_id": 1)", 0},
  };
  for (const Case& c : cases) {
    zt::testing::TempDir dir;
    std::ofstream(dir.Join("config.json"))
        << R"({"model_type": "qwen2", "vocab_size": 16, "hidden_size": 8, "intermediate_size": 16,)"
        << R"("num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, )" << c.config_ids
        << "}";
    std::ofstream(dir.Join("train.jsonl")) << R"({"input_ids": [1, 2, 3], "labels": [-100, 2, 3]})" << "\n"
                                           << R"({"input_ids": [4, 5, 6, 7, 8]})" << "\n";
    configs::TrainingArguments args;
    args.data_path = dir.Join("train.jsonl");
    args.model_max_length = 4;
    absl::StatusOr<TrainingData> data = LoadTrainingData(args, dir.path());
    ASSERT_TRUE(data.ok()) << c.config_ids << ": " << data.status();
    EXPECT_EQ(data->pad_id, c.pad_id) << c.config_ids;
    ASSERT_EQ(data->train.size(), 2u);
    EXPECT_EQ(data->train[0].labels, (std::vector<int32_t>{data::kIgnoreIndex, 2, 3}));
    EXPECT_EQ(data->train[1].input_ids, (std::vector<int32_t>{4, 5, 6, 7}));  // model_max_length
    EXPECT_EQ(data->truncated, 1);
  }
}

TEST(LoadTrainingDataTest, TokenIdsAreCheckedAgainstConfigVocabSize) {
  zt::testing::TempDir dir;
  std::ofstream(dir.Join("config.json"))
      << R"({"model_type": "qwen2", "vocab_size": 16, "hidden_size": 8, "intermediate_size": 16,)"
      << R"("num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1})";
  std::ofstream(dir.Join("eval.jsonl")) << R"({"input_ids": [1, 2]})" << "\n" << R"({"input_ids": [1, 16]})" << "\n";
  configs::TrainingArguments args;
  args.data_path = dir.Join("eval.jsonl");
  args.eval_data_path = dir.Join("eval.jsonl");
  EXPECT_EQ(LoadTrainingData(args, dir.path()).status().message(),
            dir.Join("eval.jsonl") + ":2: input_ids[1]: expected a token id below the model's vocab_size 16, got 16");
}

TEST(CollateBatchTest, RightPadsWithMaskAndIgnoredLabels) {
  const int32_t kIgnore = data::kIgnoreIndex;
  std::vector<data::TokenizedSample> samples = {
      Sample({5, 6, 7}, {kIgnore, 6, 7}),
      Sample({8, 9, 10, 11, 12}, {kIgnore, kIgnore, 10, kIgnore, 12}),
  };
  const Batch b = CollateBatch(samples, {1, 0}, /*pad_id=*/99);
  ASSERT_EQ(b.input_ids.sizes(), (at::IntArrayRef{2, 5}));
  EXPECT_TRUE(b.input_ids.equal(at::tensor({8, 9, 10, 11, 12, 5, 6, 7, 99, 99}, at::kLong).view({2, 5})));
  EXPECT_TRUE(b.attention_mask.equal(at::tensor({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, at::kLong).view({2, 5})));
  EXPECT_TRUE(b.labels.equal(at::tensor({kIgnore, kIgnore, 10, kIgnore, 12, kIgnore, 6, 7, kIgnore,
                                         kIgnore}, at::kLong).view({2, 5})));
  EXPECT_EQ(b.target_tokens, 4);  // labels after the first position: 10, 12, 6, 7
  EXPECT_EQ(b.tokens, 8);
}

TEST(SummedCausalLmLossTest, SumIsMeanTimesCountAsHfForCausalLmLoss) {
  at::manual_seed(3);
  const at::Tensor logits = at::randn({2, 6, 11}, at::kDouble);
  at::Tensor labels = at::randint(0, 11, {2, 6}, at::kLong);
  labels[0][2] = data::kIgnoreIndex;
  labels[1][5] = data::kIgnoreIndex;
  const double count = labels.narrow(1, 1, 5).ne(data::kIgnoreIndex).sum().item<double>();
  // model::CausalLmLoss computes in fp32 (HF's .float()); the sum keeps fp64 logits.
  const double mean = model::CausalLmLoss(logits, labels).item<double>();
  EXPECT_NEAR(SummedCausalLmLoss(logits, labels).item<double>(), mean * count, 1e-5 * mean * count);
  EXPECT_NEAR(SummedCausalLmLoss(logits.to(at::kFloat), labels).item<double>(), mean * count,
              1e-5 * mean * count);
}

TEST(SummedCausalLmLossTest, TargetsOnlyEqualsFullLogitsInValueAndGradient) {
  at::manual_seed(4);
  const at::Tensor hidden = at::randn({3, 7, 8}, at::kDouble).requires_grad_();
  const at::Tensor lm_head = at::randn({13, 8}, at::kDouble).requires_grad_();
  at::Tensor labels = at::randint(0, 13, {3, 7}, at::kLong);
  labels.narrow(1, 0, 3).fill_(data::kIgnoreIndex);  // prompts
  labels[2].narrow(0, 5, 2).fill_(data::kIgnoreIndex);  // padding
  const at::Tensor full = SummedCausalLmLoss(at::linear(hidden, lm_head), labels);
  const std::vector<at::Tensor> full_grads = torch::autograd::grad({full}, {hidden, lm_head});
  const at::Tensor fused = SummedCausalLmLossOnTargets(hidden, lm_head, labels);
  const std::vector<at::Tensor> fused_grads = torch::autograd::grad({fused}, {hidden, lm_head});
  EXPECT_NEAR(fused.item<double>(), full.item<double>(), 1e-10);
  EXPECT_TRUE(at::allclose(fused_grads[0], full_grads[0], 0, 1e-12));
  EXPECT_TRUE(at::allclose(fused_grads[1], full_grads[1], 0, 1e-12));
}

TEST(SummedCausalLmLossTest, TargetsOnlyInFp32EqualsFullLogitsWithin1e6) {
  at::manual_seed(5);
  const at::Tensor hidden = at::randn({3, 40, 8}, at::kFloat).requires_grad_();
  const at::Tensor lm_head = at::randn({300, 8}, at::kFloat).requires_grad_();
  at::Tensor labels = at::randint(0, 300, {3, 40}, at::kLong);
  labels.narrow(1, 0, 9).fill_(data::kIgnoreIndex);
  labels[1].narrow(0, 30, 10).fill_(data::kIgnoreIndex);
  const at::Tensor full = SummedCausalLmLoss(at::linear(hidden, lm_head), labels);
  const std::vector<at::Tensor> full_grads = torch::autograd::grad({full}, {hidden, lm_head});
  const at::Tensor fused = SummedCausalLmLossOnTargets(hidden, lm_head, labels);
  const std::vector<at::Tensor> fused_grads = torch::autograd::grad({fused}, {hidden, lm_head});
  EXPECT_EQ(fused.scalar_type(), at::kFloat);
  EXPECT_NEAR(fused.item<double>(), full.item<double>(), 1e-6 * full.item<double>());
  for (int i : {0, 1}) {
    const double diff = (fused_grads[i] - full_grads[i]).norm().item<double>();
    EXPECT_LE(diff, 1e-6 * full_grads[i].norm().item<double>()) << i;
  }
}

}  // namespace
}  // namespace zt::worker::train
