#include "worker/io/safetensors_file.h"

#include <cstring>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace zt::worker::io {
namespace {

using ::testing::HasSubstr;

NamedTensors EveryDtype() {
  at::manual_seed(7);
  return {{"f32", at::randn({3, 5})},
          {"f16", at::randn({4}).to(at::kHalf)},
          {"bf16", at::randn({2, 3}).to(at::kBFloat16)},
          {"i8", at::randint(-100, 100, {7}, at::kChar)},
          {"u8", at::randint(0, 255, {9}, at::kByte)},
          {"i32", at::randint(-1000, 1000, {2, 2}, at::kInt)},
          {"i64", at::randint(-1000, 1000, {3}, at::kLong)},
          {"bool", at::randint(0, 2, {5}, at::kLong).to(at::kBool)},
          {"scalar", at::scalar_tensor(2.5)},
          {"empty", at::empty({0, 3})}};
}

TEST(SafetensorsFileTest, RoundTripsEveryDtypeZeroCopy) {
  testing::TempDir dir;
  const std::string path = dir.Join("t.safetensors");
  const NamedTensors tensors = EveryDtype();
  ASSERT_TRUE(WriteSafetensors(path, tensors).ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->header().metadata.at("format"), "pt");
  EXPECT_EQ((*file)->Names().size(), tensors.size());
  for (const auto& [name, expected] : tensors) {
    auto got = (*file)->Get(name);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->scalar_type(), expected.scalar_type()) << name;
    EXPECT_EQ(got->sizes(), expected.sizes()) << name;
    EXPECT_TRUE(at::equal(*got, expected)) << name;
    if (got->numel() > 0) {
      EXPECT_TRUE((*file)->mapping().Contains(got->data_ptr(), got->nbytes()))
          << name << " was copied instead of aliasing the mapping";
    }
  }
}

TEST(SafetensorsFileTest, TensorsOutliveTheFileObjectAndWritesStayPrivate) {
  testing::TempDir dir;
  const std::string path = dir.Join("t.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"w", at::ones({4})}}).ok());
  at::Tensor w;
  {
    auto file = SafetensorsFile::Open(path);
    ASSERT_TRUE(file.ok());
    w = *(*file)->Get("w");
  }
  w.mul_(3);  // copy-on-write: neither faults nor changes the file
  EXPECT_TRUE(at::equal(w, at::full({4}, 3.0)));
  EXPECT_TRUE(at::equal(*(*SafetensorsFile::Open(path))->Get("w"), at::ones({4})));
}

TEST(SafetensorsFileTest, CopiesMisalignedThirdPartyData) {
  // A header of 3 bytes padding-free puts the buffer at offset 11: F32 data is misaligned.
  testing::TempDir dir;
  const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  const float values[2] = {1.5f, -2.0f};
  bytes += header + std::string(reinterpret_cast<const char*>(values), 8);
  ASSERT_NE((8 + header.size()) % 4, 0u);
  const std::string path = dir.Join("odd.safetensors");
  std::ofstream(path, std::ios::binary) << bytes;
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  at::Tensor w = *(*file)->Get("w");
  EXPECT_FALSE((*file)->mapping().Contains(w.data_ptr(), 8));
  EXPECT_TRUE(at::equal(w, at::tensor({1.5f, -2.0f})));
}

TEST(SafetensorsFileTest, ErrorsNameTheFileAndTensor) {
  testing::TempDir dir;
  const std::string path = dir.Join("m.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"a", at::zeros({1})}}).ok());
  auto file = SafetensorsFile::Open(path);
  auto missing = (*file)->Get("model.norm.weight");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(path));
  EXPECT_THAT(missing.status().message(), HasSubstr("\"model.norm.weight\""));
  auto absent = SafetensorsFile::Open(dir.Join("nope.safetensors"));
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kNotFound);
  std::ofstream(dir.Join("bad.safetensors"), std::ios::binary) << "abc";
  auto bad = SafetensorsFile::Open(dir.Join("bad.safetensors"));
  EXPECT_THAT(bad.status().message(), HasSubstr("bad.safetensors: not a valid safetensors file"));
  auto complex = WriteSafetensors(dir.Join("c.safetensors"), {{"c", at::zeros({1}, at::kComplexFloat)}});
  EXPECT_THAT(complex.message(), HasSubstr("tensor \"c\""));
}

}  // namespace
}  // namespace zt::worker::io
