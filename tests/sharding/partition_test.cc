// FlatLayout: reverse-order packing into buckets, padding to world_size * alignment, equal
// per-rank chunks, partition pieces that tile every parameter exactly once; FlatBuffer: views
// that alias the model's parameters.
#include "sharding/zero/partition.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>

#include "sharding/zero/flat_buffer.h"

namespace zt::sharding {
namespace {

FlatLayout MakeLayout(const std::vector<int64_t>& numels, int world, int64_t bucket,
                      int64_t alignment = 2) {
  absl::StatusOr<FlatLayout> layout =
      FlatLayout::Create(numels, FlatLayoutOptions{world, bucket, alignment});
  EXPECT_TRUE(layout.ok()) << layout.status();
  return *layout;
}

TEST(FlatLayoutTest, OneBucketIsDeepSpeedsPaddedContiguousLayout) {
  // 3 + 5 + 7 = 15 elements, W = 2, alignment 2: padded to 16, chunks of 8.
  FlatLayout layout = MakeLayout({3, 5, 7}, 2, 1000);
  ASSERT_EQ(layout.buckets().size(), 1u);
  EXPECT_EQ(layout.flat_numel(), 16);
  EXPECT_EQ(layout.param_numel(), 15);
  EXPECT_EQ(layout.partition_numel(), 8);
  // Reverse (backward) order: parameter 2 first.
  EXPECT_EQ(layout.slot(2).flat_offset, 0);
  EXPECT_EQ(layout.slot(1).flat_offset, 7);
  EXPECT_EQ(layout.slot(0).flat_offset, 12);
  EXPECT_EQ(layout.ChunkFlatOffset(0, 1), 8);
  EXPECT_EQ(layout.PartitionPadding(0), 0);
  EXPECT_EQ(layout.PartitionPadding(1), 1);
  // Rank 1 owns parameter 1's elements 1..4 and all of parameter 0, then one padding element.
  std::vector<ParamPiece> pieces = layout.PartitionPieces(1);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].param, 1);
  EXPECT_EQ(pieces[0].param_offset, 1);
  EXPECT_EQ(pieces[0].partition_offset, 0);
  EXPECT_EQ(pieces[0].numel, 4);
  EXPECT_EQ(pieces[1].param, 0);
  EXPECT_EQ(pieces[1].partition_offset, 4);
  EXPECT_EQ(pieces[1].numel, 3);
}

TEST(FlatLayoutTest, BucketsHoldAtMostBucketNumelExceptOversizedParameters) {
  // Reverse order: 4, 4 | 6 | 20 (alone, larger than the bucket) | 1.
  FlatLayout layout = MakeLayout({1, 20, 6, 4, 4}, 1, 8, 1);
  ASSERT_EQ(layout.buckets().size(), 4u);
  EXPECT_EQ(layout.buckets()[0].params, (std::vector<int>{4, 3}));
  EXPECT_EQ(layout.buckets()[1].params, (std::vector<int>{2}));
  EXPECT_EQ(layout.buckets()[2].params, (std::vector<int>{1}));
  EXPECT_EQ(layout.buckets()[3].params, (std::vector<int>{0}));
  EXPECT_EQ(layout.largest_bucket_numel(), 20);
}

// For W = 1, 2, 4 and uneven sizes: chunks are equal, aligned, and partitions tile every
// parameter element exactly once.
TEST(FlatLayoutTest, PartitionsTileEveryElementOnceAtWorldSizes124) {
  const std::vector<int64_t> numels = {7, 1, 13, 64, 3, 129, 2, 31};
  for (int world : {1, 2, 4}) {
    for (int64_t bucket : {int64_t{1}, int64_t{16}, int64_t{100}, int64_t{1} << 30}) {
      FlatLayout layout = MakeLayout(numels, world, bucket);
      std::map<int, std::vector<int>> seen;
      for (int p = 0; p < layout.num_params(); ++p) seen[p].assign(numels[p], 0);
      int64_t padding = 0;
      for (int r = 0; r < world; ++r) {
        int64_t last_end = 0;
        for (const ParamPiece& piece : layout.PartitionPieces(r)) {
          EXPECT_GE(piece.partition_offset, last_end);
          last_end = piece.partition_offset + piece.numel;
          for (int64_t e = 0; e < piece.numel; ++e) ++seen[piece.param][piece.param_offset + e];
        }
        EXPECT_LE(last_end, layout.partition_numel());
        padding += layout.PartitionPadding(r);
      }
      for (auto& [param, counts] : seen) {
        for (int c : counts) ASSERT_EQ(c, 1) << "param " << param << " W " << world;
      }
      EXPECT_EQ(padding, layout.flat_numel() - layout.param_numel());
      for (const Bucket& b : layout.buckets()) {
        EXPECT_EQ(b.numel % (2 * world), 0);
        EXPECT_EQ(b.chunk_numel * world, b.numel);
        EXPECT_LT(b.numel - b.used_numel, 2 * world);
        EXPECT_EQ(b.chunk_numel % 2, 0);
      }
      EXPECT_EQ(layout.partition_numel() * world, layout.flat_numel());
    }
  }
}

TEST(FlatLayoutTest, RejectsBadOptionsNamingThem) {
  EXPECT_EQ(FlatLayout::Create({4}, FlatLayoutOptions{0, 8, 2}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status bucket = FlatLayout::Create({4}, FlatLayoutOptions{2, 0, 2}).status();
  EXPECT_NE(bucket.message().find("reduce_bucket_size"), std::string::npos) << bucket;
  absl::Status param = FlatLayout::Create({4, 0}, FlatLayoutOptions{2, 8, 2}).status();
  EXPECT_NE(param.message().find("parameter 1"), std::string::npos) << param;
  EXPECT_FALSE(FlatLayout::Create({}, FlatLayoutOptions{2, 8, 2}).ok());
}

TEST(FlatBufferTest, BoundParametersAliasTheBufferAndKeepTheirValues) {
  at::Tensor a = at::arange(6, at::kDouble).view({2, 3}).requires_grad_();
  at::Tensor b = at::arange(10, 15, at::kDouble).requires_grad_();
  FlatBuffer buffer(MakeLayout({6, 5}, 4, 100), at::kDouble, at::kCPU);
  ASSERT_TRUE(buffer.BindParameters({a, b}, {"a", "b"}).ok());
  EXPECT_EQ(buffer.flat().numel(), 16);
  EXPECT_TRUE(at::equal(a.detach(), at::arange(6, at::kDouble).view({2, 3})));
  EXPECT_TRUE(at::equal(b.detach(), at::arange(10, 15, at::kDouble)));
  EXPECT_TRUE(a.requires_grad());
  // Writing the buffer (as the all-gather does) updates the parameters.
  buffer.flat().fill_(7.0);
  EXPECT_EQ(a.detach().sum().item<double>(), 42.0);
  EXPECT_EQ(b.detach().sum().item<double>(), 35.0);
  // Autograd still reaches the (re-pointed) leaves.
  (a * 2).sum().backward();
  EXPECT_TRUE(at::equal(a.grad(), at::full({2, 3}, 2.0, at::kDouble)));
  EXPECT_EQ(buffer.Chunk(0, 3).numel(), 4);
}

TEST(FlatBufferTest, RejectsAMismatchedParameterByName) {
  FlatBuffer buffer(MakeLayout({6}, 1, 100), at::kFloat, at::kCPU);
  at::Tensor wrong = at::zeros({6}, at::kDouble).requires_grad_();
  absl::Status status = buffer.BindParameters({wrong}, {"layers.0.w"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("layers.0.w"), std::string::npos) << status;
  EXPECT_NE(status.message().find("Double"), std::string::npos) << status;
}

}  // namespace
}  // namespace zt::sharding
