#include <cstdint>

#include "kernels/nonfinite_count_cuda.h"

namespace zt::kernels {
namespace {

constexpr int kThreads = 256;

template <typename Bits, Bits kExponentMask>
__global__ void CountAllOnesExponentKernel(const Bits* __restrict__ bits, int64_t numel,
                                           unsigned long long* __restrict__ count) {
  unsigned long long local = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < numel; i += stride) {
    local += (bits[i] & kExponentMask) == kExponentMask;
  }
  // Warp reduction, then one atomic per warp.
  for (int offset = 16; offset > 0; offset /= 2) {
    local += __shfl_down_sync(0xffffffffu, local, offset);
  }
  if ((threadIdx.x & 31) == 0 && local != 0) atomicAdd(count, local);
}

template <typename Bits, Bits kMask>
cudaError_t Launch(const void* data, int64_t numel, unsigned long long* count, cudaStream_t stream) {
  if (numel <= 0) return cudaSuccess;
  int device = 0;
  int sms = 0;
  cudaError_t error = cudaGetDevice(&device);
  if (error == cudaSuccess) error = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (error != cudaSuccess) return error;
  // Enough blocks to fill the device a few times over; the grid-stride loop covers the rest.
  int64_t wanted = (numel + kThreads - 1) / kThreads;
  int blocks = static_cast<int>(wanted < int64_t{sms} * 8 ? wanted : int64_t{sms} * 8);
  CountAllOnesExponentKernel<Bits, kMask>
      <<<blocks, kThreads, 0, stream>>>(static_cast<const Bits*>(data), numel, count);
  return cudaGetLastError();
}

}  // namespace

cudaError_t CountNonFiniteCuda(const void* data, int64_t numel, FloatFormat format,
                               unsigned long long* device_count, cudaStream_t stream) {
  switch (format) {
    case FloatFormat::kF32: return Launch<uint32_t, 0x7F800000u>(data, numel, device_count, stream);
    case FloatFormat::kF16: return Launch<uint16_t, 0x7C00u>(data, numel, device_count, stream);
    case FloatFormat::kBF16: return Launch<uint16_t, 0x7F80u>(data, numel, device_count, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace zt::kernels
