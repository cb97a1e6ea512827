#include "worker/model/packed4bit_weight.h"

#include <cstring>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "kernels/double_quant.h"
#ifdef ZT_WITH_CUDA
#include "worker/model/packed4bit_cuda.h"
#endif

namespace zt::worker::model {
namespace {

using kernels::FloatFormat;

FloatFormat FormatOf(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return FloatFormat::kF32;
    case at::kHalf:
      return FloatFormat::kF16;
    case at::kBFloat16:
      return FloatFormat::kBF16;
    default:
      TORCH_CHECK(false, "4-bit dequantization writes fp32, fp16 or bf16, not ", dtype);
  }
}

int64_t Bytes(const at::Tensor& t) { return t.defined() ? static_cast<int64_t>(t.nbytes()) : 0; }

absl::Status CheckTensor(const at::Tensor& t, const char* name, at::ScalarType dtype,
                         int64_t numel) {
  if (!t.defined()) return absl::InvalidArgumentError(absl::StrCat("4-bit weight: no ", name));
  if (!t.device().is_cpu() || t.scalar_type() != dtype || t.numel() != numel ||
      !t.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "4-bit weight: ", name, " must be a contiguous CPU ", c10::toString(dtype), " tensor of ",
        numel, " elements, got ", c10::toString(t.scalar_type()), " ", t.device().str(), " of ",
        t.numel(), t.is_contiguous() ? "" : " (not contiguous)"));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t Packed4bitWeight::StorageBytes() const {
  return Bytes(packed) + Bytes(absmax) + Bytes(quant_map) + Bytes(nested_absmax) +
         Bytes(nested_quant_map);
}

absl::Status ValidatePacked4bitWeight(const Packed4bitWeight& w) {
  if (!kernels::IsQuant4Blocksize(w.blocksize)) {
    return absl::InvalidArgumentError(
        absl::StrCat("4-bit weight: blocksize ", w.blocksize, " is not one of 32, 64, ..., 4096"));
  }
  if (w.out_features <= 0 || w.in_features <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("4-bit weight: shape [", w.out_features, ", ", w.in_features, "] is empty"));
  }
  if (w.dtype != at::kFloat && w.dtype != at::kHalf && w.dtype != at::kBFloat16) {
    return absl::InvalidArgumentError(
        absl::StrCat("4-bit weight: dtype ", c10::toString(w.dtype), " is not a float"));
  }
  const int64_t blocks = kernels::Quant4Blocks(w.numel(), w.blocksize);
  if (auto s = CheckTensor(w.packed, "packed", at::kByte, kernels::Quant4PackedBytes(w.numel()));
      !s.ok()) {
    return s;
  }
  if (auto s = CheckTensor(w.quant_map, "quant_map", at::kFloat, 16); !s.ok()) return s;
  if (std::memcmp(w.quant_map.data_ptr(), kernels::Quant4CodeBook(w.quant_type),
                  16 * sizeof(float)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("4-bit weight: quant_map is not bitsandbytes' ",
                                                   kernels::Quant4TypeName(w.quant_type), " map"));
  }
  if (!w.double_quant()) return CheckTensor(w.absmax, "absmax", at::kFloat, blocks);
  if (auto s = CheckTensor(w.absmax, "absmax (double-quantized codes)", at::kByte, blocks);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckTensor(w.nested_absmax, "nested_absmax", at::kFloat,
                           kernels::Quant4Blocks(blocks, kernels::kNestedBlocksize));
      !s.ok()) {
    return s;
  }
  return CheckTensor(w.nested_quant_map, "nested_quant_map", at::kFloat, 256);
}

Packed4bitWeight QuantizePacked4bit(const at::Tensor& weight, kernels::Quant4Type quant_type,
                                    int64_t blocksize, bool double_quant, int torch_threads) {
  TORCH_CHECK(weight.dim() == 2 && weight.device().is_cpu(), "QuantizePacked4bit: a CPU [out, in]");
  const at::Tensor dense = weight.contiguous();
  Packed4bitWeight w;
  w.quant_type = quant_type;
  w.blocksize = blocksize;
  w.dtype = dense.scalar_type();
  w.out_features = dense.size(0);
  w.in_features = dense.size(1);
  const int64_t blocks = kernels::Quant4Blocks(w.numel(), blocksize);
  w.packed = at::empty({kernels::Quant4PackedBytes(w.numel()), 1}, at::kByte);
  at::Tensor absmax = at::empty({blocks}, at::kFloat);
  kernels::Quantize4bitCpu(dense.data_ptr(), FormatOf(w.dtype), w.numel(), blocksize, quant_type,
                           w.packed.data_ptr<uint8_t>(), absmax.data_ptr<float>());
  w.quant_map = at::empty({16}, at::kFloat);
  std::memcpy(w.quant_map.data_ptr(), kernels::Quant4CodeBook(quant_type), 16 * sizeof(float));
  if (!double_quant) {
    w.absmax = absmax;
    return w;
  }
  w.absmax = at::empty({blocks}, at::kByte);
  w.nested_absmax =
      at::empty({kernels::Quant4Blocks(blocks, kernels::kNestedBlocksize)}, at::kFloat);
  w.nested_offset = kernels::DoubleQuantizeAbsmaxCpu(
                        absmax.data_ptr<float>(), blocks, w.absmax.data_ptr<uint8_t>(),
                        w.nested_absmax.data_ptr<float>(), torch_threads)
                        .offset;
  w.nested_quant_map = at::empty({256}, at::kFloat);
  std::memcpy(w.nested_quant_map.data_ptr(), kernels::DynamicMap8bit(), 256 * sizeof(float));
  return w;
}

at::Tensor BlockAbsmax(const Packed4bitWeight& w) {
  // The CUDA kernel decodes a nested absmax itself.
  if (!w.double_quant() || w.packed.is_cuda()) return w.absmax;
  at::Tensor out = at::empty({w.absmax.numel()}, at::kFloat);
  kernels::DequantizeNestedAbsmaxCpu(w.absmax.data_ptr<uint8_t>(),
                                     w.nested_absmax.data_ptr<float>(),
                                     w.nested_quant_map.data_ptr<float>(), w.nested_offset,
                                     w.absmax.numel(), out.data_ptr<float>());
  return out;
}

int64_t RowTileGranularity(const Packed4bitWeight& w) {
  return w.blocksize / std::gcd(w.in_features, w.blocksize);
}

void DequantizeRowsInto(const Packed4bitWeight& w, const at::Tensor& block_absmax,
                        int64_t row_begin, const at::Tensor& out) {
  const int64_t rows = out.size(0);
  if (w.packed.is_cuda()) {
#ifdef ZT_WITH_CUDA
    TORCH_CHECK(row_begin == 0 && rows == w.out_features,
                "DequantizeRowsInto: a CUDA weight dequantizes whole (no row tiles)");
    DequantizePacked4bitCudaInto(w, out);
    return;
#else
    TORCH_CHECK(false, "DequantizeRowsInto: a CUDA weight in a build without CUDA");
#endif
  }
  TORCH_CHECK(out.is_contiguous() && out.dim() == 2 && out.size(1) == w.in_features &&
                  row_begin >= 0 && row_begin + rows <= w.out_features &&
                  row_begin % RowTileGranularity(w) == 0,
              "DequantizeRowsInto: rows [", row_begin, ", +", rows, ") of a [", w.out_features,
              ", ", w.in_features, "] weight into ", out.sizes());
  // row_begin * in is a multiple of blocksize (even): the tile starts on a block and a byte.
  const int64_t first = row_begin * w.in_features;
  kernels::Dequantize4bitCpu(w.packed.data_ptr<uint8_t>() + first / 2,
                             block_absmax.data_ptr<float>() + first / w.blocksize,
                             rows * w.in_features, w.blocksize, w.quant_type, out.data_ptr(),
                             FormatOf(out.scalar_type()));
}

at::Tensor DequantizePacked4bit(const Packed4bitWeight& w, at::ScalarType dtype) {
  at::Tensor out = at::empty({w.out_features, w.in_features},
                             at::TensorOptions().dtype(dtype).device(w.packed.device()));
  DequantizeRowsInto(w, BlockAbsmax(w), 0, out);
  return out;
}

}  // namespace zt::worker::model
