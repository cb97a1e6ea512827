// Element-wise reductions on host memory, the arithmetic of the CPU collectives (Gloo ring, MPI
// user ops). 16-bit floats are widened to fp32 for each operation and rounded back (as NCCL
// does), so a reduction of bf16 values loses no more than one rounding per step.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>

#include "absl/status/status.h"
#include "sharding/collectives/communicator.h"

namespace zt::sharding {

// InvalidArgument naming `op` and the dtype unless `dtype` is one of fp32, fp64, bf16, fp16,
// int32, int64 (the dtypes Combine() and DivideBy() handle).
absl::Status CheckReducibleDtype(const char* op, at::ScalarType dtype);

// out[i] = a[i] (op) b[i] for i < count; out may alias a or b. kAvg combines as a sum (divide
// the finished reduction with DivideBy()).
void Combine(at::ScalarType dtype, ReduceOp op, void* out, const void* a, const void* b,
             size_t count);

// data[i] /= divisor (integer division for integer dtypes): finishes kAvg.
void DivideBy(at::ScalarType dtype, void* data, size_t count, int divisor);

}  // namespace zt::sharding
