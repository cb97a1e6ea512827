// SquaredNormFp64 in chunks against the exact fp64 sum of squares: several chunks with a partial
// last one, 16-bit and fp32 input, the default chunk size, and fp64 summing across chunks.
#include "sharding/zero/grad_norm.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace zt::sharding {
namespace {

double ExactSquares(const std::vector<at::Tensor>& tensors) {
  double sum = 0;
  for (const at::Tensor& t : tensors) sum += t.to(at::kDouble).square().sum().item<double>();
  return sum;
}

TEST(GradNormChunksTest, ChunkedSumMatchesFp64ReferenceWithPartialLastChunk) {
  at::manual_seed(7);
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
    // 10007 elements: ten chunks of 1000 and a last one of 7; a 2-d tensor; an empty one.
    const std::vector<at::Tensor> tensors = {at::randn({10007}, at::kFloat).to(dtype),
                                             at::randn({37, 53}, at::kFloat).to(dtype),
                                             at::empty({0}, at::kFloat).to(dtype)};
    const double exact = ExactSquares(tensors);
    for (int64_t chunk : {1000, 999, 4096, 1 << 20}) {
      const at::Tensor got = SquaredNormFp64(tensors, chunk);
      ASSERT_EQ(got.scalar_type(), at::kDouble);
      ASSERT_EQ(got.sizes(), at::IntArrayRef({1}));
      EXPECT_NEAR(got.item<double>(), exact, 1e-6 * exact) << dtype << " chunk " << chunk;
    }
  }
}

TEST(GradNormChunksTest, DefaultChunkSizeSpansSeveralChunksOfBf16) {
  at::manual_seed(8);
  // Two full 16 Mi chunks and a partial third.
  const at::Tensor t = at::randn({(int64_t{16} << 20) * 2 + 12345}, at::kFloat).to(at::kBFloat16);
  const double exact = ExactSquares({t});
  EXPECT_NEAR(SquaredNormFp64({t}).item<double>(), exact, 1e-6 * exact);
}

TEST(GradNormChunksTest, Fp64TensorsStayExactAndChunksSumInFp64) {
  at::manual_seed(9);
  const at::Tensor d = at::randn({5003}, at::kDouble);
  const double exact = ExactSquares({d});
  EXPECT_NEAR(SquaredNormFp64({d}, 1000).item<double>(), exact, 1e-13 * exact);
  // Each chunk's squared norm (2e38) fits fp32, their sum (4e38) only fp64.
  const at::Tensor big = at::full({4}, 1e19f);
  const double e = static_cast<double>(1e19f);
  EXPECT_NEAR(SquaredNormFp64({big}, 2).item<double>(), 4 * e * e, 1e-7 * 4 * e * e);
}

TEST(GradNormChunksTest, NoTensorsIsZero) {
  const at::Tensor got = SquaredNormFp64({});
  EXPECT_EQ(got.scalar_type(), at::kDouble);
  EXPECT_EQ(got.item<double>(), 0.0);
}

}  // namespace
}  // namespace zt::sharding
