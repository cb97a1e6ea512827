#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/nf4_dequant_cuda.h"

namespace zt::kernels {
namespace {

constexpr int kThreads = 256;

struct Lut {
  float value[16];
};

// The CPU path's table: bitsandbytes' code book, FP4 code 8 as -0.0f (nf4.h).
Lut LutFor(Quant4Type type) {
  Lut lut;
  const float* code = Quant4CodeBook(type);
  for (int i = 0; i < 16; ++i) lut.value[i] = code[i];
  if (type == Quant4Type::kFp4) lut.value[8] = -0.0f;
  return lut;
}

template <typename Out>
__device__ Out RoundTo(float value);
template <>
__device__ float RoundTo<float>(float value) {
  return value;
}
template <>
__device__ __nv_bfloat16 RoundTo<__nv_bfloat16>(float value) {
  return __float2bfloat16_rn(value);
}
template <>
__device__ __half RoundTo<__half>(float value) {
  return __float2half_rn(value);
}

struct PlainAbsmax {
  const float* absmax;
  __device__ float operator()(int64_t block) const { return absmax[block]; }
};

// Explicit _rn operations: nvcc would contract a * b + c into one FMA, one rounding fewer than
// bitsandbytes' (and the CPU path's) decoding.
struct NestedAbsmax {
  const uint8_t* codes;
  const float* nested_absmax;
  const float* nested_code;
  float offset;
  __device__ float operator()(int64_t block) const {
    return __fadd_rn(__fmul_rn(nested_code[codes[block]], nested_absmax[block / 256]), offset);
  }
};

// One packed byte (two elements, never in different blocks: blocksize is even) per thread and
// grid-stride step.
template <typename Out, typename Absmax>
__global__ void Dequantize4bitKernel(const uint8_t* __restrict__ packed, Absmax absmax,
                                     int64_t numel, int64_t blocksize, Lut lut,
                                     Out* __restrict__ out) {
  __shared__ float table[16];
  if (threadIdx.x < 16) table[threadIdx.x] = lut.value[threadIdx.x];
  __syncthreads();
  const int64_t bytes = (numel + 1) / 2;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < bytes;
       j += stride) {
    const uint8_t byte = packed[j];
    const int64_t e = 2 * j;
    const float scale = absmax(e / blocksize);
    out[e] = RoundTo<Out>(__fmul_rn(table[byte >> 4], scale));
    if (e + 1 < numel) out[e + 1] = RoundTo<Out>(__fmul_rn(table[byte & 15], scale));
  }
}

template <typename Out, typename Absmax>
cudaError_t Launch(const uint8_t* packed, Absmax absmax, int64_t numel, int64_t blocksize,
                   Quant4Type type, void* out, cudaStream_t stream) {
  int device = 0;
  int sms = 0;
  cudaError_t error = cudaGetDevice(&device);
  if (error == cudaSuccess) {
    error = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  }
  if (error != cudaSuccess) return error;
  // Enough blocks to fill the device a few times over; the grid-stride loop covers the rest.
  const int64_t wanted = (Quant4PackedBytes(numel) + kThreads - 1) / kThreads;
  const int blocks = static_cast<int>(wanted < int64_t{sms} * 16 ? wanted : int64_t{sms} * 16);
  Dequantize4bitKernel<Out, Absmax><<<blocks, kThreads, 0, stream>>>(
      packed, absmax, numel, blocksize, LutFor(type), static_cast<Out*>(out));
  return cudaGetLastError();
}

template <typename Absmax>
cudaError_t Dispatch(const uint8_t* packed, Absmax absmax, int64_t numel, int64_t blocksize,
                     Quant4Type type, void* out, FloatFormat format, cudaStream_t stream) {
  if (!IsQuant4Blocksize(blocksize) || numel < 0) return cudaErrorInvalidValue;
  if (numel == 0) return cudaSuccess;
  switch (format) {
    case FloatFormat::kF32:
      return Launch<float>(packed, absmax, numel, blocksize, type, out, stream);
    case FloatFormat::kBF16:
      return Launch<__nv_bfloat16>(packed, absmax, numel, blocksize, type, out, stream);
    case FloatFormat::kF16:
      return Launch<__half>(packed, absmax, numel, blocksize, type, out, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t Dequantize4bitCuda(const uint8_t* packed, const float* absmax, int64_t numel,
                               int64_t blocksize, Quant4Type type, void* out, FloatFormat format,
                               cudaStream_t stream) {
  return Dispatch(packed, PlainAbsmax{absmax}, numel, blocksize, type, out, format, stream);
}

cudaError_t Dequantize4bitNestedCuda(const uint8_t* packed, const uint8_t* absmax_codes,
                                     const float* nested_absmax, const float* nested_code,
                                     float offset, int64_t numel, int64_t blocksize,
                                     Quant4Type type, void* out, FloatFormat format,
                                     cudaStream_t stream) {
  return Dispatch(packed, NestedAbsmax{absmax_codes, nested_absmax, nested_code, offset}, numel,
                  blocksize, type, out, format, stream);
}

}  // namespace zt::kernels
