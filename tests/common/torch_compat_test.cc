#include "common/torch_compat.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace zt::common {
namespace {

// softmax(q kᵀ scale + mask) v written out with plain ops: the reference for every version.
at::Tensor ReferenceAttention(const at::Tensor& q, at::Tensor k, at::Tensor v,
                              const std::optional<at::Tensor>& additive_mask, double scale) {
  const int64_t groups = q.size(1) / k.size(1);
  k = k.repeat_interleave(groups, 1);
  v = v.repeat_interleave(groups, 1);
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * scale;
  if (additive_mask.has_value()) scores = scores + *additive_mask;
  return at::matmul(at::softmax(scores, -1), v);
}

at::Tensor CausalAdditive(int64_t length) {
  at::Tensor allowed = at::ones({length, length}, at::kBool).tril();
  return at::zeros({length, length}).masked_fill(allowed.logical_not(),
                                                 -std::numeric_limits<float>::infinity());
}

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

class SdpaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    at::manual_seed(7);
    q_ = at::randn({2, 4, 6, 8});
    k_ = at::randn({2, 4, 6, 8});
    v_ = at::randn({2, 4, 6, 8});
  }
  at::Tensor q_, k_, v_;
  const double default_scale_ = 1.0 / std::sqrt(8.0);
};

TEST_F(SdpaTest, PlainMatchesReference) {
  at::Tensor out = ScaledDotProductAttention(q_, k_, v_);
  EXPECT_LT(MaxAbsDiff(out, ReferenceAttention(q_, k_, v_, std::nullopt, default_scale_)), 1e-5);
}

TEST_F(SdpaTest, CausalIsTopLeftAligned) {
  SdpaOptions options;
  options.is_causal = true;
  at::Tensor out = ScaledDotProductAttention(q_, k_, v_, options);
  EXPECT_LT(MaxAbsDiff(out, ReferenceAttention(q_, k_, v_, CausalAdditive(6), default_scale_)), 1e-5);
}

TEST_F(SdpaTest, BooleanMaskMeansAttendWhereTrue) {
  // Batch 1 has its last two key positions padded out.
  at::Tensor keep = at::ones({2, 1, 1, 6}, at::kBool);
  keep.index_put_({1, 0, 0, at::indexing::Slice(4, 6)}, false);
  SdpaOptions options;
  options.attn_mask = keep;
  options.is_causal = true;  // combined with the mask, as a padded causal batch needs
  at::Tensor additive = CausalAdditive(6).expand({2, 1, 6, 6}).clone();
  additive = additive.masked_fill(keep.logical_not().expand({2, 1, 6, 6}),
                                  -std::numeric_limits<float>::infinity());
  at::Tensor out = ScaledDotProductAttention(q_, k_, v_, options);
  EXPECT_LT(MaxAbsDiff(out, ReferenceAttention(q_, k_, v_, additive, default_scale_)), 1e-5);
}

TEST_F(SdpaTest, AdditiveMaskAndExplicitScale) {
  at::Tensor additive = at::randn({1, 1, 6, 6});
  SdpaOptions options;
  options.attn_mask = additive;
  options.scale = 0.05;
  at::Tensor out = ScaledDotProductAttention(q_, k_, v_, options);
  EXPECT_LT(MaxAbsDiff(out, ReferenceAttention(q_, k_, v_, additive, 0.05)), 1e-5);
}

TEST_F(SdpaTest, GroupedQueryAttention) {
  at::Tensor k = at::randn({2, 2, 6, 8});
  at::Tensor v = at::randn({2, 2, 6, 8});
  SdpaOptions options;
  options.enable_gqa = true;
  options.is_causal = true;
  at::Tensor out = ScaledDotProductAttention(q_, k, v, options);
  EXPECT_LT(MaxAbsDiff(out, ReferenceAttention(q_, k, v, CausalAdditive(6), default_scale_)), 1e-5);
  EXPECT_THROW(ScaledDotProductAttention(q_, k, v), c10::Error);  // fewer kv heads without GQA
}

TEST_F(SdpaTest, GradientsFlowToQueryKeyAndValue) {
  at::Tensor q = q_.clone().requires_grad_(true);
  at::Tensor k = k_.clone().requires_grad_(true);
  at::Tensor v = v_.clone().requires_grad_(true);
  SdpaOptions options;
  options.is_causal = true;
  ScaledDotProductAttention(q, k, v, options).sum().backward();
  at::Tensor q_ref = q_.clone().requires_grad_(true);
  at::Tensor k_ref = k_.clone().requires_grad_(true);
  at::Tensor v_ref = v_.clone().requires_grad_(true);
  ReferenceAttention(q_ref, k_ref, v_ref, CausalAdditive(6), default_scale_).sum().backward();
  EXPECT_LT(MaxAbsDiff(q.grad(), q_ref.grad()), 1e-5);
  EXPECT_LT(MaxAbsDiff(k.grad(), k_ref.grad()), 1e-5);
  EXPECT_LT(MaxAbsDiff(v.grad(), v_ref.grad()), 1e-5);
}

TEST(HostBufferTest, PinsOnlyWhenCudaIsPresent) {
  at::Tensor buffer = EmptyHostBuffer({16}, at::kFloat, /*pin=*/true);
  EXPECT_TRUE(buffer.device().is_cpu());
  EXPECT_EQ(buffer.numel(), 16);
  EXPECT_EQ(buffer.is_pinned(), CudaAvailable());
  EXPECT_FALSE(EmptyHostBuffer({16}, at::kFloat, /*pin=*/false).is_pinned());
}

TEST(MatmulDtypeTest, HalfOnCpuRunsInFloat) {
  EXPECT_EQ(MatmulComputeDtype(at::kHalf, at::Device(at::kCPU)), at::kFloat);
  EXPECT_EQ(MatmulComputeDtype(at::kBFloat16, at::Device(at::kCPU)), at::kBFloat16);
  EXPECT_EQ(MatmulComputeDtype(at::kFloat, at::Device(at::kCPU)), at::kFloat);
  EXPECT_EQ(MatmulComputeDtype(at::kHalf, at::Device(at::kCUDA, 0)), at::kHalf);
  // The dtype it picks must actually run here.
  at::Tensor a = at::ones({4, 4}, at::kHalf);
  EXPECT_EQ(at::matmul(a.to(MatmulComputeDtype(at::kHalf, a.device())), a.to(at::kFloat)).sum().item<float>(), 64.0f);
}

TEST(GradAccumulatorHookTest, FiresAfterTheGradientIsAccumulated) {
  at::Tensor weight = at::ones({3}).requires_grad_(true);
  std::vector<float> seen;
  {
    GradAccumulatorHook hook(weight, [&seen](const at::Tensor& leaf) {
      seen.push_back(leaf.grad().sum().item<float>());
    });
    // Used twice in one graph: autograd sums both uses before accumulating, one call.
    ((weight * 2).sum() + (weight * 3).sum()).backward();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_FLOAT_EQ(seen[0], 15.0f);
    (weight * 4).sum().backward();  // accumulates into the existing .grad
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_FLOAT_EQ(seen[1], 27.0f);
  }
  (weight * 4).sum().backward();  // handle destroyed: the hook is gone
  EXPECT_EQ(seen.size(), 2u);
}

TEST(GradAccumulatorHookTest, MovedHandleKeepsTheHook) {
  at::Tensor weight = at::zeros({2}).requires_grad_(true);
  int calls = 0;
  GradAccumulatorHook first(weight, [&calls](const at::Tensor&) { ++calls; });
  GradAccumulatorHook second = std::move(first);
  (weight * 1).sum().backward();
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace zt::common
