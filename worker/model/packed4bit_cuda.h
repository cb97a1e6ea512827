// The CUDA side of packed4bit_weight.h (CUDA builds only): bitsandbytes' dequantize_4bit of a
// Packed4bitWeight whose tensors live on a CUDA device, with kernels/nf4_dequant_cuda.h on
// LibTorch's current stream, bit-equal to the CPU path.
#pragma once

#include <ATen/core/Tensor.h>

#include "worker/model/packed4bit_weight.h"

namespace zt::worker::model {

// The whole weight into `out` (contiguous [out, in] on the weight's device, bf16 / fp16 /
// fp32). Asynchronous on the current stream; throws c10::Error on a launch failure.
void DequantizePacked4bitCudaInto(const Packed4bitWeight& weight, const at::Tensor& out);

}  // namespace zt::worker::model
