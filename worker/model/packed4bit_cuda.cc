#include "worker/model/packed4bit_cuda.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "kernels/nf4_dequant_cuda.h"

namespace zt::worker::model {
namespace {

kernels::FloatFormat FormatOfCuda(at::ScalarType dtype) {
  switch (dtype) {
    case at::kHalf:
      return kernels::FloatFormat::kF16;
    case at::kBFloat16:
      return kernels::FloatFormat::kBF16;
    default:
      return kernels::FloatFormat::kF32;
  }
}

}  // namespace

void DequantizePacked4bitCudaInto(const Packed4bitWeight& w, const at::Tensor& out) {
  TORCH_CHECK(out.is_cuda() && out.is_contiguous() && out.numel() == w.numel() &&
                  out.device() == w.packed.device(),
              "DequantizePacked4bitCudaInto: out ", out.sizes(), " on ", out.device(), " for a [",
              w.out_features, ", ", w.in_features, "] weight on ", w.packed.device());
  const c10::cuda::CUDAGuard guard(out.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(out.device().index()).stream();
  const cudaError_t error =
      w.double_quant()
          ? kernels::Dequantize4bitNestedCuda(
                w.packed.data_ptr<uint8_t>(), w.absmax.data_ptr<uint8_t>(),
                w.nested_absmax.data_ptr<float>(), w.nested_quant_map.data_ptr<float>(),
                w.nested_offset, w.numel(), w.blocksize, w.quant_type, out.data_ptr(),
                FormatOfCuda(out.scalar_type()), stream)
          : kernels::Dequantize4bitCuda(w.packed.data_ptr<uint8_t>(), w.absmax.data_ptr<float>(),
                                        w.numel(), w.blocksize, w.quant_type, out.data_ptr(),
                                        FormatOfCuda(out.scalar_type()), stream);
  TORCH_CHECK(error == cudaSuccess, "4-bit dequantization on ", out.device(), ": ",
              cudaGetErrorString(error));
}

}  // namespace zt::worker::model
