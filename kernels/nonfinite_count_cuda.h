// CUDA side of nonfinite_count.h, on raw device pointers and a stream (no LibTorch).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/float_format.h"

namespace zt::kernels {

// Enqueues on `stream`: *device_count += number of non-finite elements of the `numel`
// elements of `format` at device pointer `data`. `device_count` is a device pointer the caller
// zeroes; reading it back is the caller's (one copy, after any number of buffers).
cudaError_t CountNonFiniteCuda(const void* data, int64_t numel, FloatFormat format,
                               unsigned long long* device_count, cudaStream_t stream);

}  // namespace zt::kernels
