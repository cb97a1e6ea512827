// ChunkedLinearCrossEntropySum against the plain loss (at::linear + log_softmax + nll_loss):
// loss, d(rows), d(lm_head), at chunk sizes from one row to all rows, a scaled upstream
// gradient, lm_head used a second time (tied embeddings), bf16 and fp64 inputs, no grad mode.
#include "worker/train/chunked_lm_loss.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <vector>

namespace zt::worker::train {
namespace {

constexpr int64_t kRows = 50, kVocab = 257, kWidth = 16;

struct LossAndGrads {
  at::Tensor loss, d_rows, d_head;
};

// 0.37 × loss + a second use of lm_head (its rows at `ids` summed, as a tied embedding's).
LossAndGrads LossWithGrads(const at::Tensor& rows_value, const at::Tensor& head_value,
                           const at::Tensor& targets,
                           int64_t chunk_bytes /* 0: the plain reference */) {
  const at::Tensor rows = rows_value.clone().requires_grad_();
  const at::Tensor head = head_value.clone().requires_grad_();
  at::Tensor loss;
  if (chunk_bytes == 0) {
    at::Tensor logits = at::linear(rows, head);
    if (logits.scalar_type() != at::kDouble) logits = logits.to(at::kFloat);
    loss = at::nll_loss(at::log_softmax(logits, 1), targets, {}, at::Reduction::Sum);
  } else {
    loss = ChunkedLinearCrossEntropySum(rows, head, targets, chunk_bytes);
  }
  const at::Tensor ids = at::arange(0, kVocab, 3, at::kLong);
  const at::Tensor total = loss * 0.37 + head.index_select(0, ids).sum();
  const std::vector<at::Tensor> grads = torch::autograd::grad({total}, {rows, head});
  return {loss.detach(), grads[0], grads[1]};
}

// ||got - want|| / ||want|| (L2 over all elements).
double RelativeDifference(const at::Tensor& got, const at::Tensor& want) {
  const at::Tensor g = got.to(at::kDouble), w = want.to(at::kDouble);
  return ((g - w).norm() / w.norm()).item<double>();
}

TEST(ChunkedLmLossTest, EqualsThePlainLossAndGradientsAtEveryChunkSize) {
  at::manual_seed(5);
  const at::Tensor rows = at::randn({kRows, kWidth}, at::kFloat);
  const at::Tensor head = at::randn({kVocab, kWidth}, at::kFloat);
  const at::Tensor targets = at::randint(0, kVocab, {kRows}, at::kLong);
  const LossAndGrads want = LossWithGrads(rows, head, targets, 0);
  const int64_t row_bytes = kVocab * 4;
  // 1 byte and 1 row: one row a chunk; 7 rows: a partial last chunk; more than all rows.
  for (int64_t bytes :
       {int64_t{1}, row_bytes, 7 * row_bytes, 7 * row_bytes + 5, 64 * row_bytes, kLossChunkBytes}) {
    const LossAndGrads got = LossWithGrads(rows, head, targets, bytes);
    EXPECT_EQ(got.loss.scalar_type(), at::kFloat);
    EXPECT_LE(RelativeDifference(got.loss, want.loss), 1e-6) << bytes;
    EXPECT_LE(RelativeDifference(got.d_rows, want.d_rows), 1e-6) << bytes;
    EXPECT_LE(RelativeDifference(got.d_head, want.d_head), 1e-6) << bytes;
  }
}

TEST(ChunkedLmLossTest, Fp64StaysFp64) {
  at::manual_seed(6);
  const at::Tensor rows = at::randn({kRows, kWidth}, at::kDouble);
  const at::Tensor head = at::randn({kVocab, kWidth}, at::kDouble);
  const at::Tensor targets = at::randint(0, kVocab, {kRows}, at::kLong);
  const LossAndGrads want = LossWithGrads(rows, head, targets, 0);
  const LossAndGrads got = LossWithGrads(rows, head, targets, 9 * kVocab * 8);
  EXPECT_EQ(got.loss.scalar_type(), at::kDouble);
  EXPECT_LE(RelativeDifference(got.loss, want.loss), 1e-12);
  EXPECT_LE(RelativeDifference(got.d_rows, want.d_rows), 1e-12);
  EXPECT_LE(RelativeDifference(got.d_head, want.d_head), 1e-12);
}

// Logits in the input dtype, upcast (as HF): the loss matches to fp32 precision; the gradients
// to bf16 precision (the reference rounds d(lm_head) to bf16 once, the chunks add in fp32).
// (bf16 only: torch's fp16 CPU matmul is a scalar loop, too slow for a unit test.)
TEST(ChunkedLmLossTest, Bf16InputsMatchTheUpcastReference) {
  at::manual_seed(7);
  const at::Tensor rows = at::randn({kRows, kWidth}, at::kFloat).to(at::kBFloat16);
  const at::Tensor head = at::randn({kVocab, kWidth}, at::kFloat).to(at::kBFloat16);
  const at::Tensor targets = at::randint(0, kVocab, {kRows}, at::kLong);
  const LossAndGrads want = LossWithGrads(rows, head, targets, 0);
  const LossAndGrads got = LossWithGrads(rows, head, targets, 9 * kVocab * 4);
  EXPECT_EQ(got.loss.scalar_type(), at::kFloat);
  EXPECT_EQ(got.d_rows.scalar_type(), at::kBFloat16);
  EXPECT_EQ(got.d_head.scalar_type(), at::kBFloat16);
  EXPECT_LE(RelativeDifference(got.loss, want.loss), 1e-6);
  EXPECT_LE(RelativeDifference(got.d_rows, want.d_rows), 1e-2);
  EXPECT_LE(RelativeDifference(got.d_head, want.d_head), 1e-2);
}

TEST(ChunkedLmLossTest, WithoutGradModeOrGradientsOnlyTheLoss) {
  at::manual_seed(8);
  const at::Tensor rows = at::randn({kRows, kWidth}, at::kFloat).requires_grad_();
  const at::Tensor head = at::randn({kVocab, kWidth}, at::kFloat);  // frozen
  const at::Tensor targets = at::randint(0, kVocab, {kRows}, at::kLong);
  const at::Tensor want = ChunkedLinearCrossEntropySum(rows, head, targets, 1);
  ASSERT_TRUE(want.requires_grad());
  EXPECT_EQ(torch::autograd::grad({want}, {rows})[0].sizes(), rows.sizes());
  c10::NoGradGuard no_grad;
  const at::Tensor got = ChunkedLinearCrossEntropySum(rows, head, targets, 1);
  EXPECT_FALSE(got.requires_grad());
  EXPECT_EQ(got.item<float>(), want.item<float>());
}

TEST(ChunkedLmLossTest, NoRowsIsZeroWithZeroGradients) {
  const at::Tensor rows = at::zeros({0, kWidth}, at::kFloat);
  const at::Tensor head = at::randn({kVocab, kWidth}, at::kFloat);
  const LossAndGrads got = LossWithGrads(rows, head, at::zeros({0}, at::kLong), kLossChunkBytes);
  EXPECT_EQ(got.loss.item<float>(), 0.0f);
  const LossAndGrads want = LossWithGrads(rows, head, at::zeros({0}, at::kLong), 0);
  EXPECT_TRUE(at::equal(got.d_head, want.d_head));
}

}  // namespace
}  // namespace zt::worker::train
