// y = x · Wᵀ + bias with W a frozen 4-bit weight, as bitsandbytes' MatMul4Bit (autograd/
// _functions.py) on the CPU: the forward dequantizes W to x's dtype (the compute dtype) and
// multiplies; autograd saves only the packed weight and its constants, and the backward
// dequantizes W again (to QuantState.dtype, then cast to the gradient's dtype, as
// F.dequantize_4bit(...).to(grad.dtype) does) for grad_x = grad · W. W gets no gradient; the
// bias gets grad.sum over tokens when it requires one. No dequantized weight outlives a call.
//
// Two CPU kernels, bit-identical dequantization, matmuls that differ only in summation order:
//   kDequantizeThenMatmul: the whole weight in the compute dtype, one at::linear / at::matmul.
//   kTiled: tiles of whole weight rows dequantized into a reusable buffer of about
//     `tile_bytes`, each tile's matmul written into its slice of the output (forward) or
//     accumulated in fp32 into grad_x (backward).
// kAuto picks by bench/linear4bit_bench.cc's measurement (ChooseMatmul4bitKernel).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "worker/model/packed4bit_weight.h"

namespace zt::worker::model {

enum class Matmul4bitKernel { kAuto, kDequantizeThenMatmul, kTiled };

const char* Matmul4bitKernelName(Matmul4bitKernel kernel);  // "auto", "dequantize", "tiled"

struct Matmul4bitOptions {
  Matmul4bitKernel kernel = Matmul4bitKernel::kAuto;
  int64_t tile_bytes = 256 * 1024;  // per tile buffer, rounded to whole block-aligned rows
};

// `x` [..., in] in the compute dtype (bf16, fp16 or fp32; on the weight's device: the CPU, or
// CUDA where the weight dequantizes whole), `bias` [out] in x's dtype or undefined ->
// [..., out] in x's dtype. Differentiable in x and bias. fp16 matmuls run in
// fp32 on the CPU (common::MatmulComputeDtype), rounding operands and result to fp16.
at::Tensor Matmul4bit(const at::Tensor& x, const Packed4bitWeight& weight, const at::Tensor& bias,
                      const Matmul4bitOptions& options = {});

// The kernel kAuto resolves to for `tokens` rows of x and matmuls in `matmul_dtype`.
Matmul4bitKernel ChooseMatmul4bitKernel(int64_t tokens, at::ScalarType matmul_dtype);

// Bytes of the tensors autograd saved for `output`'s backward when its grad_fn is Matmul4bit's
// node (else -1): the test hook for "only the packed weight and its constants are saved".
int64_t Matmul4bitSavedBytes(const at::Tensor& output);

}  // namespace zt::worker::model
