// GPU label: runs only where a CUDA device is. Compares the CUDA kernel with the CPU one.
#include "kernels/nonfinite_count_cuda.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/nonfinite_count.h"

namespace zt::kernels {
namespace {

TEST(NonFiniteCountCudaTest, MatchesCpuOnLargeBuffers) {
  int devices = 0;
  ASSERT_EQ(cudaGetDeviceCount(&devices), cudaSuccess) << "the gpu label needs a CUDA device";
  ASSERT_GT(devices, 0);
  std::mt19937 rng(3);
  std::vector<float> values(10'000'019);
  std::normal_distribution<float> normal;
  for (float& v : values) v = normal(rng);
  for (size_t i = 0; i < values.size(); i += 99991) values[i] = (i % 2) ? INFINITY : NAN;
  std::vector<uint16_t> bf16(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &values[i], 4);
    bf16[i] = static_cast<uint16_t>(bits >> 16);
  }

  void* device_data = nullptr;
  unsigned long long* device_count = nullptr;
  ASSERT_EQ(cudaMalloc(&device_data, values.size() * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&device_count), sizeof(unsigned long long)), cudaSuccess);
  for (FloatFormat format : {FloatFormat::kF32, FloatFormat::kBF16}) {
    const void* host = format == FloatFormat::kF32 ? static_cast<const void*>(values.data()) : bf16.data();
    const size_t bytes = values.size() * BytesPerElement(format);
    ASSERT_EQ(cudaMemcpy(device_data, host, bytes, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemset(device_count, 0, sizeof(unsigned long long)), cudaSuccess);
    ASSERT_EQ(CountNonFiniteCuda(device_data, values.size(), format, device_count, nullptr), cudaSuccess);
    unsigned long long count = 0;
    ASSERT_EQ(cudaMemcpy(&count, device_count, sizeof(count), cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(static_cast<int64_t>(count), CountNonFiniteCpu(host, values.size(), format))
        << FloatFormatName(format);
  }
  cudaFree(device_data);
  cudaFree(device_count);
}

}  // namespace
}  // namespace zt::kernels
