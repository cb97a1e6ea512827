// GPU label: runs only where a CUDA device is. Dequantize4bitCuda / Dequantize4bitNestedCuda
// against the CPU path (Dequantize4bitCpu, after DequantizeNestedAbsmaxCpu): bit for bit, on
// random packed bytes and absmax, NF4 and FP4, every output format, a partial last block and
// an odd element count.
#include "kernels/nf4_dequant_cuda.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/double_quant.h"
#include "kernels/nf4.h"

namespace zt::kernels {
namespace {

// A device buffer freed on scope exit.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) { error_ = cudaMalloc(&data_, bytes > 0 ? bytes : 1); }
  ~DeviceBuffer() { cudaFree(data_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return data_; }
  cudaError_t error() const { return error_; }

 private:
  void* data_ = nullptr;
  cudaError_t error_;
};

template <typename T>
void Upload(DeviceBuffer& buffer, const std::vector<T>& host) {
  ASSERT_EQ(buffer.error(), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(buffer.get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
            cudaSuccess);
}

TEST(Nf4DequantCudaTest, MatchesCpuBitForBit) {
  int devices = 0;
  ASSERT_EQ(cudaGetDeviceCount(&devices), cudaSuccess) << "the gpu label needs a CUDA device";
  ASSERT_GT(devices, 0);
  std::mt19937 rng(5);
  struct Case {
    int64_t numel;
    int64_t blocksize;
  };
  // 4864 x 896 + 37: a partial last block and an odd count; a small one; a large blocksize.
  for (const Case c : {Case{4864 * 896 + 37, 64}, Case{77, 64}, Case{3 * 4096 + 1001, 4096}}) {
    const int64_t blocks = Quant4Blocks(c.numel, c.blocksize);
    std::vector<uint8_t> packed(Quant4PackedBytes(c.numel));
    for (uint8_t& b : packed) b = static_cast<uint8_t>(rng());
    std::vector<float> absmax(blocks);
    std::uniform_real_distribution<float> scale(1e-3f, 2.0f);
    for (float& a : absmax) a = scale(rng);
    std::vector<uint8_t> codes(blocks);
    for (uint8_t& q : codes) q = static_cast<uint8_t>(rng());
    std::vector<float> nested(Quant4Blocks(blocks, kNestedBlocksize));
    for (float& n : nested) n = scale(rng);
    const std::vector<float> nested_code(DynamicMap8bit(), DynamicMap8bit() + 256);
    const float offset = 0.0371f;
    std::vector<float> decoded(blocks);
    DequantizeNestedAbsmaxCpu(codes.data(), nested.data(), nested_code.data(), offset, blocks,
                              decoded.data());

    DeviceBuffer d_packed(packed.size()), d_absmax(blocks * 4), d_codes(blocks),
        d_nested(nested.size() * 4), d_code(256 * 4), d_out(c.numel * 4);
    Upload(d_packed, packed);
    Upload(d_absmax, absmax);
    Upload(d_codes, codes);
    Upload(d_nested, nested);
    Upload(d_code, nested_code);
    ASSERT_EQ(d_out.error(), cudaSuccess);
    for (Quant4Type type : {Quant4Type::kNf4, Quant4Type::kFp4}) {
      for (FloatFormat format : {FloatFormat::kF32, FloatFormat::kBF16, FloatFormat::kF16}) {
        for (bool double_quant : {false, true}) {
          SCOPED_TRACE(testing::Message() << Quant4TypeName(type) << " " << FloatFormatName(format)
                                          << (double_quant ? " nested" : "") << " n=" << c.numel);
          const size_t bytes = c.numel * BytesPerElement(format);
          std::vector<uint8_t> want(bytes), got(bytes);
          Dequantize4bitCpu(packed.data(), double_quant ? decoded.data() : absmax.data(), c.numel,
                            c.blocksize, type, want.data(), format);
          ASSERT_EQ(cudaMemset(d_out.get(), 0xFF, c.numel * 4), cudaSuccess);
          const cudaError_t launched =
              double_quant ? Dequantize4bitNestedCuda(static_cast<const uint8_t*>(d_packed.get()),
                                                      static_cast<const uint8_t*>(d_codes.get()),
                                                      static_cast<const float*>(d_nested.get()),
                                                      static_cast<const float*>(d_code.get()),
                                                      offset, c.numel, c.blocksize, type,
                                                      d_out.get(), format, nullptr)
                           : Dequantize4bitCuda(static_cast<const uint8_t*>(d_packed.get()),
                                                static_cast<const float*>(d_absmax.get()), c.numel,
                                                c.blocksize, type, d_out.get(), format, nullptr);
          ASSERT_EQ(launched, cudaSuccess) << cudaGetErrorString(launched);
          ASSERT_EQ(cudaMemcpy(got.data(), d_out.get(), bytes, cudaMemcpyDeviceToHost),
                    cudaSuccess);
          EXPECT_EQ(std::memcmp(got.data(), want.data(), bytes), 0);
        }
      }
    }
  }
}

TEST(Nf4DequantCudaTest, RefusesABlocksizeBitsandbytesRefuses) {
  EXPECT_EQ(Dequantize4bitCuda(nullptr, nullptr, 10, 48, Quant4Type::kNf4, nullptr,
                               FloatFormat::kF32, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(Dequantize4bitCuda(nullptr, nullptr, 0, 64, Quant4Type::kNf4, nullptr,
                               FloatFormat::kF32, nullptr),
            cudaSuccess);
}

}  // namespace
}  // namespace zt::kernels
