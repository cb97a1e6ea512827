// ZT_CUDA_RETURN_IF_ERROR: the one check for CUDA runtime calls. On failure returns an
// absl::Status naming the call, CUDA's error name and text, host, rank and file:line.
#pragma once

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/error_context.h"

namespace zt::common {

inline absl::Status CudaError(cudaError_t error, const char* call, const char* file, int line) {
  // cudaErrorMemoryAllocation is retryable after freeing memory; everything else is internal.
  absl::StatusCode code = error == cudaErrorMemoryAllocation ? absl::StatusCode::kResourceExhausted
                                                             : absl::StatusCode::kInternal;
  return ForeignLibraryError(code, "CUDA", call,
                             absl::StrCat(cudaGetErrorName(error), ": ", cudaGetErrorString(error)),
                             file, line);
}

}  // namespace zt::common

#define ZT_CUDA_RETURN_IF_ERROR(call)                                            \
  do {                                                                           \
    cudaError_t zt_cuda_error_ = (call);                                         \
    if (zt_cuda_error_ != cudaSuccess) {                                         \
      return ::zt::common::CudaError(zt_cuda_error_, #call, __FILE__, __LINE__); \
    }                                                                            \
  } while (0)
