// Quantize4bitCpu, DoubleQuantizeAbsmaxCpu and Dequantize4bitCpu against bitsandbytes' own
// output (tests/data/nf4/kernels.safetensors, tests/golden/nf4_goldens.py): packed bytes,
// absmax, quant maps, nested absmax, offset and dequantized values bit for bit, through every
// dequantization path this CPU has; and the vector paths against the scalar one.
#include "kernels/nf4.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/double_quant.h"
#include "tests/support/test_data.h"
#include "worker/io/safetensors_file.h"

namespace zt::kernels {
namespace {

std::vector<CpuIsa> Nf4Isas() {
  std::vector<CpuIsa> isas;
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (CpuSupports(isa)) isas.push_back(isa);
  }
  return isas;
}

FloatFormat FormatOf(const std::string& dtype) {
  return dtype == "bf16"   ? FloatFormat::kBF16
         : dtype == "fp16" ? FloatFormat::kF16
                           : FloatFormat::kF32;
}

uint32_t Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// Element i of `a` and `b` as raw bits of `format`; +0 and -0 count as equal (bitsandbytes'
// own CPU paths disagree on FP4 code 8's sign, nf4.h).
bool SameValue(const void* a, const void* b, int64_t i, FloatFormat format) {
  if (format == FloatFormat::kF32) {
    const uint32_t x = static_cast<const uint32_t*>(a)[i], y = static_cast<const uint32_t*>(b)[i];
    return x == y || ((x | y) & 0x7FFFFFFF) == 0;
  }
  const uint16_t x = static_cast<const uint16_t*>(a)[i], y = static_cast<const uint16_t*>(b)[i];
  return x == y || ((x | y) & 0x7FFF) == 0;
}

int64_t FirstDifference(const void* a, const void* b, int64_t n, FloatFormat format) {
  for (int64_t i = 0; i < n; ++i) {
    if (!SameValue(a, b, i, format)) return i;
  }
  return -1;
}

bool SameBytes(const at::Tensor& a, const void* b, size_t bytes) {
  return static_cast<size_t>(a.nbytes()) == bytes && std::memcmp(a.data_ptr(), b, bytes) == 0;
}

class Nf4GoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto file = worker::io::SafetensorsFile::Open(testing::TestDataPath("nf4/kernels.safetensors"));
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = *file;
    cases_ = nlohmann::json::parse(file_->header().metadata.at("cases"));
    ASSERT_GE(cases_.size(), 10u);
  }
  at::Tensor Get(const std::string& name) {
    auto tensor = file_->Get(name);
    EXPECT_TRUE(tensor.ok()) << tensor.status();
    return tensor.ok() ? tensor->contiguous() : at::Tensor();
  }
  std::shared_ptr<worker::io::SafetensorsFile> file_;
  nlohmann::json cases_;
};

TEST_F(Nf4GoldenTest, QuantizesAndDequantizesAsBitsandbytes) {
  for (const auto& c : cases_) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const Quant4Type type = c.at("quant_type") == "nf4" ? Quant4Type::kNf4 : Quant4Type::kFp4;
    const int64_t blocksize = c.at("blocksize");
    const bool double_quant = c.at("double_quant");
    const FloatFormat format = FormatOf(c.at("dtype"));
    const at::Tensor input = Get(name + ".input");
    const int64_t n = input.numel();
    const int64_t blocks = Quant4Blocks(n, blocksize);

    std::vector<uint8_t> packed(Quant4PackedBytes(n));
    std::vector<float> absmax(blocks);
    Quantize4bitCpu(input.data_ptr(), format, n, blocksize, type, packed.data(), absmax.data());
    EXPECT_TRUE(SameBytes(Get(name + ".packed"), packed.data(), packed.size()));
    EXPECT_TRUE(SameBytes(Get(name + ".quant_map"), Quant4CodeBook(type), 16 * sizeof(float)));

    std::vector<float> scales = absmax;
    if (!double_quant) {
      EXPECT_TRUE(SameBytes(Get(name + ".absmax"), absmax.data(), blocks * sizeof(float)));
    } else {
      std::vector<uint8_t> codes(blocks);
      std::vector<float> nested(Quant4Blocks(blocks, kNestedBlocksize));
      const DoubleQuantized dq =
          DoubleQuantizeAbsmaxCpu(absmax.data(), blocks, codes.data(), nested.data());
      EXPECT_EQ(Bits(dq.offset), Bits(static_cast<float>(c.at("offset").get<double>())));
      EXPECT_TRUE(SameBytes(Get(name + ".absmax"), codes.data(), codes.size()));
      EXPECT_TRUE(SameBytes(Get(name + ".nested_absmax"), nested.data(), nested.size() * 4));
      const at::Tensor nested_map = Get(name + ".nested_quant_map");
      EXPECT_TRUE(SameBytes(nested_map, DynamicMap8bit(), 256 * sizeof(float)));
      DequantizeNestedAbsmaxCpu(codes.data(), nested.data(), nested_map.data_ptr<float>(),
                                dq.offset, blocks, scales.data());
      EXPECT_TRUE(SameBytes(Get(name + ".absmax_dequant"), scales.data(), blocks * sizeof(float)));
    }

    const at::Tensor expected = Get(name + ".dequant");
    std::vector<uint8_t> out(n * BytesPerElement(format));
    for (CpuIsa isa : Nf4Isas()) {
      SCOPED_TRACE(CpuIsaName(isa));
      std::memset(out.data(), 0xFF, out.size());
      Dequantize4bitCpu(packed.data(), scales.data(), n, blocksize, type, out.data(), format,
                        {/*num_threads=*/0, /*force_isa=*/true, isa});
      EXPECT_EQ(FirstDifference(out.data(), expected.data_ptr(), n, format), -1);
    }
  }
}

// torch's mean at the sizes where it splits the sum across threads (the offset of a weight of
// 32768 blocks or more), against torch itself at 1 to 4 threads.
TEST_F(Nf4GoldenTest, MeanMatchesTorchAtEveryThreadCount) {
  const nlohmann::json means = nlohmann::json::parse(file_->header().metadata.at("means"));
  ASSERT_GE(means.size(), 16u);
  for (const auto& m : means) {
    const int64_t n = m.at("n");
    const int threads = m.at("threads");
    std::vector<float> x(n);
    for (int64_t i = 0; i < n; ++i) {
      x[i] = static_cast<float>((static_cast<uint64_t>(i) * 2654435761ull) & 0xFFFFFF) * 0x1p-24f;
    }
    EXPECT_EQ(Bits(TorchCpuMeanF32(x.data(), n, threads)),
              Bits(static_cast<float>(m.at("mean").get<double>())))
        << "n " << n << ", " << threads << " threads";
  }
}

// Sizes that leave vector tails and partial blocks, every blocksize, every format: the vector
// paths write exactly the scalar path's bits (NaN and inf scales included).
TEST(Nf4SimdTest, VectorPathsEqualScalar) {
  at::manual_seed(7);
  for (int64_t blocksize : {32, 64, 256, 4096}) {
    for (int64_t n : {int64_t{1}, int64_t{15}, int64_t{33}, int64_t{1000}, int64_t{70001}}) {
      for (FloatFormat format : {FloatFormat::kF32, FloatFormat::kBF16, FloatFormat::kF16}) {
        SCOPED_TRACE(std::to_string(blocksize) + " " + std::to_string(n) + " " +
                     FloatFormatName(format));
        const at::Tensor packed = at::randint(0, 256, {Quant4PackedBytes(n)}, at::kByte);
        at::Tensor absmax = at::rand({Quant4Blocks(n, blocksize)}) * 3;
        absmax[0] = std::numeric_limits<float>::quiet_NaN();
        if (absmax.numel() > 1) absmax[1] = 1e30f;
        for (Quant4Type type : {Quant4Type::kNf4, Quant4Type::kFp4}) {
          std::vector<uint8_t> scalar(n * BytesPerElement(format)), vector(scalar.size());
          Dequantize4bitCpu(packed.data_ptr<uint8_t>(), absmax.data_ptr<float>(), n, blocksize,
                            type, scalar.data(), format, {2, true, CpuIsa::kScalar});
          for (CpuIsa isa : Nf4Isas()) {
            Dequantize4bitCpu(packed.data_ptr<uint8_t>(), absmax.data_ptr<float>(), n, blocksize,
                              type, vector.data(), format, {2, true, isa});
            EXPECT_EQ(std::memcmp(scalar.data(), vector.data(), scalar.size()), 0)
                << CpuIsaName(isa);
          }
        }
      }
    }
  }
}

TEST(Nf4Test, BlocksizesAndSizes) {
  EXPECT_TRUE(IsQuant4Blocksize(32));
  EXPECT_TRUE(IsQuant4Blocksize(4096));
  EXPECT_FALSE(IsQuant4Blocksize(16));
  EXPECT_FALSE(IsQuant4Blocksize(96));
  EXPECT_FALSE(IsQuant4Blocksize(8192));
  EXPECT_EQ(Quant4Blocks(65, 64), 2);
  EXPECT_EQ(Quant4PackedBytes(65), 33);
  EXPECT_STREQ(Quant4TypeName(Quant4Type::kFp4), "fp4");
}

// The mean's order matters for the offset: a sum whose float rounding depends on it.
TEST(Nf4Test, TorchMeanIsCascaded) {
  std::vector<float> values(1000, 1.0f);
  values[0] = 1e8f;
  // A left-to-right float sum loses every 1.0 against 1e8; torch's partial sums keep most.
  EXPECT_GT(TorchCpuMeanF32(values.data(), 1000) * 1000, 1e8f + 500);
  EXPECT_EQ(TorchCpuMeanF32(values.data() + 1, 5), 1.0f);
}

}  // namespace
}  // namespace zt::kernels
