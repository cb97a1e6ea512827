#include "worker/io/sharded_safetensors.h"

#include <sys/stat.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace zt::worker::io {
namespace {

using ::testing::HasSubstr;

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

TEST(ShardedSafetensorsTest, ParsesSizesAsHuggingfaceHub) {
  EXPECT_EQ(*ParseByteSize("5GB", "--max_shard_size"), 5000000000ull);
  EXPECT_EQ(*ParseByteSize("2GiB", "--max_shard_size"), 2ull << 30);
  EXPECT_EQ(*ParseByteSize("500mb", "--max_shard_size"), 500000000ull);
  EXPECT_EQ(*ParseByteSize("1024", "--max_shard_size"), 1024ull);
  auto bad = ParseByteSize("lots", "--max_shard_size");
  EXPECT_THAT(bad.status().message(), HasSubstr("--max_shard_size \"lots\""));
}

TEST(ShardedSafetensorsTest, ShardsByMaxSizeAndReadsBack) {
  testing::TempDir dir;
  NamedTensors tensors;
  for (int i = 0; i < 5; ++i) tensors.push_back({"t" + std::to_string(i), at::full({10}, float(i))});
  tensors.push_back({"big", at::zeros({30})});  // 120 bytes: a shard of its own
  ASSERT_TRUE(WriteShardedSafetensors(dir.path(), tensors, 100).ok());
  // 40 B each: [t0 t1] [t2 t3] [t4] [big]
  EXPECT_TRUE(Exists(dir.Join("model-00004-of-00004.safetensors")));
  EXPECT_FALSE(Exists(dir.Join("model.safetensors")));
  auto opened = ShardedSafetensors::Open(dir.path());
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->files().size(), 4u);
  EXPECT_EQ(opened->Names().size(), 6u);
  EXPECT_TRUE(at::equal(*opened->Get("t3"), at::full({10}, 3.0)));
  EXPECT_THAT(opened->FileOf("t4"), HasSubstr("model-00003-of-00004.safetensors"));
  std::ifstream index(dir.Join("model.safetensors.index.json"));
  std::string text((std::istreambuf_iterator<char>(index)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("\"total_size\": 320"));
  // Rewriting as one shard removes the index.
  ASSERT_TRUE(WriteShardedSafetensors(dir.path(), tensors, 1u << 20).ok());
  EXPECT_FALSE(Exists(dir.Join("model.safetensors.index.json")));
  EXPECT_EQ(ShardedSafetensors::Open(dir.path())->files().size(), 1u);
}

TEST(ShardedSafetensorsTest, RejectsIndexThatDisagreesWithShards) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteSafetensors(dir.Join("a.safetensors"), {{"x", at::zeros({1})}}).ok());
  std::ofstream(dir.Join("model.safetensors.index.json"))
      << R"({"metadata":{},"weight_map":{"y":"a.safetensors"}})";
  auto opened = ShardedSafetensors::Open(dir.path());
  EXPECT_THAT(opened.status().message(), HasSubstr("puts \"y\" in a.safetensors, which lacks it"));
  std::ofstream(dir.Join("model.safetensors.index.json"))
      << R"({"metadata":{},"weight_map":{"x":"../a.safetensors"}})";
  EXPECT_THAT(ShardedSafetensors::Open(dir.path()).status().message(),
              HasSubstr("expected a shard file name inside the folder"));
  std::ofstream(dir.Join("model.safetensors.index.json"))
      << R"({"metadata":{},"weight_map":{}})";
  EXPECT_TRUE(ShardedSafetensors::Open(dir.path()).ok());  // no shard listed: nothing opened
  EXPECT_EQ(ShardedSafetensors::Open(dir.Join("none")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace zt::worker::io
