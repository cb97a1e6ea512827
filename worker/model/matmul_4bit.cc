#include "worker/model/matmul_4bit.h"

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <vector>

#include "common/torch_compat.h"

namespace zt::worker::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows of one tile: about `tile_bytes` of `dtype`, a multiple of RowTileGranularity, at least
// one granule, at most the whole weight.
int64_t TileRows(const Packed4bitWeight& w, at::ScalarType dtype, int64_t tile_bytes) {
  const int64_t granule = RowTileGranularity(w);
  const int64_t row_bytes = w.in_features * static_cast<int64_t>(c10::elementSize(dtype));
  const int64_t rows = std::max(granule, tile_bytes / row_bytes / granule * granule);
  return std::min(rows, w.out_features);
}

// Dequantizes tiles of whole rows through a chain of dtypes: the kernel writes the first (its
// rounding is bitsandbytes' dequantize_4bit to that dtype), each next one is a cast (a second
// rounding where bitsandbytes has one, or an exact widening for a fp32 matmul). The buffers
// are allocated once and reused; a tile is valid until the next call.
class RowTileDequantizer {
 public:
  RowTileDequantizer(const Packed4bitWeight& w, std::vector<at::ScalarType> chain,
                     int64_t tile_rows)
      : weight_(w), absmax_(BlockAbsmax(w)) {
    chain.erase(std::unique(chain.begin(), chain.end()), chain.end());
    for (at::ScalarType dtype : chain) {
      buffers_.push_back(at::empty({tile_rows, w.in_features},
                                   at::TensorOptions().dtype(dtype).device(w.packed.device())));
    }
  }

  at::Tensor Tile(int64_t row_begin, int64_t rows) {
    DequantizeRowsInto(weight_, absmax_, row_begin, buffers_[0].narrow(0, 0, rows));
    for (size_t i = 1; i < buffers_.size(); ++i) {
      buffers_[i].narrow(0, 0, rows).copy_(buffers_[i - 1].narrow(0, 0, rows));
    }
    return buffers_.back().narrow(0, 0, rows);
  }

 private:
  const Packed4bitWeight& weight_;
  at::Tensor absmax_;
  std::vector<at::Tensor> buffers_;
};

// y2 [tokens, out] (matmul dtype) = x2 · Wᵀ + bias, one tile of rows (output columns) at a time.
void ForwardInto(const at::Tensor& y2, const at::Tensor& x2, const at::Tensor& bias,
                 const Packed4bitWeight& w, at::ScalarType compute, int64_t tile_rows) {
  RowTileDequantizer tiles(w, {compute, y2.scalar_type()}, tile_rows);
  for (int64_t r0 = 0; r0 < w.out_features; r0 += tile_rows) {
    const int64_t rows = std::min(tile_rows, w.out_features - r0);
    at::Tensor out = y2.narrow(1, r0, rows);
    const at::Tensor tile = tiles.Tile(r0, rows);
    if (bias.defined()) {
      at::addmm_out(out, bias.narrow(0, r0, rows), x2, tile.t());
    } else {
      at::mm_out(out, x2, tile.t());
    }
  }
}

// grad2 [tokens, out] (compute dtype) -> grad_x2 [tokens, in] (compute dtype).
at::Tensor BackwardInput(const at::Tensor& grad2, const Packed4bitWeight& w,
                         Matmul4bitKernel kernel, int64_t tile_bytes) {
  const at::ScalarType compute = grad2.scalar_type();
  // F.dequantize_4bit(B, state) returns QuantState.dtype; .to(grad.dtype) rounds again. From a
  // fp32 state the two roundings are the kernel's one rounding to the compute dtype.
  const at::ScalarType first = w.dtype == at::kFloat ? compute : w.dtype;
  if (kernel == Matmul4bitKernel::kDequantizeThenMatmul) {
    const at::ScalarType mm = common::MatmulComputeDtype(compute, grad2.device());
    RowTileDequantizer whole(w, {first, compute, mm}, w.out_features);
    return at::mm(grad2.to(mm), whole.Tile(0, w.out_features)).to(compute);
  }
  // Tiles sum into grad_x: in fp32, so the result is rounded to the compute dtype once, as a
  // single 16-bit matmul (fp32 accumulation) rounds it.
  const int64_t tile_rows = TileRows(w, at::kFloat, tile_bytes);
  RowTileDequantizer tiles(w, {first, compute, at::kFloat}, tile_rows);
  const at::Tensor grad_f = grad2.to(at::kFloat);
  at::Tensor acc = at::zeros({grad2.size(0), w.in_features}, grad_f.options());
  for (int64_t r0 = 0; r0 < w.out_features; r0 += tile_rows) {
    const int64_t rows = std::min(tile_rows, w.out_features - r0);
    acc.addmm_(grad_f.narrow(1, r0, rows), tiles.Tile(r0, rows));
  }
  return acc.to(compute);
}

// On a CUDA device the weight dequantizes whole (the row tiles are a CPU cache strategy).
Matmul4bitKernel Resolve(Matmul4bitKernel kernel, int64_t tokens, at::ScalarType compute,
                         const at::Device& device) {
  if (device.is_cuda()) return Matmul4bitKernel::kDequantizeThenMatmul;
  return kernel == Matmul4bitKernel::kAuto
             ? ChooseMatmul4bitKernel(tokens, common::MatmulComputeDtype(compute, at::kCPU))
             : kernel;
}

// Saved: the packed weight's tensors (references to the frozen storage, no copies) and its
// scalars; never a dequantized weight.
class Matmul4bitFunction : public torch::autograd::Function<Matmul4bitFunction> {
 public:
  // The bias is optional (an optional, not an undefined tensor); autograd's input edges are x,
  // then the bias when there is one.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x,
                            const c10::optional<at::Tensor>& bias, const Packed4bitWeight& w,
                            const Matmul4bitOptions& options) {
    const at::ScalarType compute = x.scalar_type();
    const at::ScalarType mm = common::MatmulComputeDtype(compute, x.device());
    const at::Tensor x2 = x.reshape({-1, w.in_features}).to(mm);
    const int64_t tokens = x2.size(0);
    const Matmul4bitKernel kernel = Resolve(options.kernel, tokens, compute, x.device());
    std::vector<int64_t> out_sizes = x.sizes().vec();
    out_sizes.back() = w.out_features;
    at::Tensor y = at::empty(out_sizes, x2.options());
    const int64_t tile_rows =
        kernel == Matmul4bitKernel::kTiled ? TileRows(w, mm, options.tile_bytes) : w.out_features;
    ForwardInto(y.view({tokens, w.out_features}), x2,
                bias.has_value() ? bias->to(mm) : at::Tensor(), w, compute, tile_rows);

    ctx->save_for_backward({w.packed, w.absmax, w.nested_absmax, w.nested_quant_map});
    ctx->saved_data["quant_type"] = static_cast<int64_t>(w.quant_type);
    ctx->saved_data["blocksize"] = w.blocksize;
    ctx->saved_data["dtype"] = static_cast<int64_t>(w.dtype);
    ctx->saved_data["out"] = w.out_features;
    ctx->saved_data["in"] = w.in_features;
    ctx->saved_data["offset"] = static_cast<double>(w.nested_offset);
    ctx->saved_data["kernel"] = static_cast<int64_t>(options.kernel);
    ctx->saved_data["tile_bytes"] = options.tile_bytes;
    ctx->saved_data["has_bias"] = bias.has_value();
    return mm == compute ? y : y.to(compute);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    Packed4bitWeight w;
    w.packed = saved[0];
    w.absmax = saved[1];
    w.nested_absmax = saved[2];
    w.nested_quant_map = saved[3];
    w.quant_type = static_cast<kernels::Quant4Type>(ctx->saved_data["quant_type"].toInt());
    w.blocksize = ctx->saved_data["blocksize"].toInt();
    w.dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    w.out_features = ctx->saved_data["out"].toInt();
    w.in_features = ctx->saved_data["in"].toInt();
    w.nested_offset = static_cast<float>(ctx->saved_data["offset"].toDouble());

    const at::Tensor grad2 = grads[0].reshape({-1, w.out_features});
    at::Tensor grad_x;
    at::Tensor grad_bias;
    if (ctx->needs_input_grad(0)) {
      const auto kernel = Resolve(static_cast<Matmul4bitKernel>(ctx->saved_data["kernel"].toInt()),
                                  grad2.size(0), grad2.scalar_type(), grad2.device());
      std::vector<int64_t> in_sizes = grads[0].sizes().vec();
      in_sizes.back() = w.in_features;
      grad_x =
          BackwardInput(grad2, w, kernel, ctx->saved_data["tile_bytes"].toInt()).view(in_sizes);
    }
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(1)) grad_bias = grad2.sum(0);
    return {grad_x, grad_bias, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

const char* Matmul4bitKernelName(Matmul4bitKernel kernel) {
  switch (kernel) {
    case Matmul4bitKernel::kAuto:
      return "auto";
    case Matmul4bitKernel::kDequantizeThenMatmul:
      return "dequantize";
    case Matmul4bitKernel::kTiled:
      return "tiled";
  }
  return "?";
}

// bench/linear4bit_bench.cc on a 2-core AVX-512 (bf16) host, NF4 double quant, 1 thread (a
// shared, noisy host: best of 7). At 512 tokens (training) the matmul dominates: in bf16 the
// tiles' forward is within noise of the whole weight's (0.8-1.3x its time) and their backward
// 2.2-3.6x slower (fp32 accumulation); in fp32 the tiles' forward is 1.2-3x slower (narrow
// GEMMs), the backward even. So the whole weight, except for a fp32 matmul over a few tokens
// (decoding), which is bound by writing the dequantized weight while the tiles stay in cache:
// at 8 tokens fp32 the tiles take 0.45-0.56x the forward and 0.44-0.75x the backward time;
// at 16 tokens they no longer win.
Matmul4bitKernel ChooseMatmul4bitKernel(int64_t tokens, at::ScalarType matmul_dtype) {
  return matmul_dtype == at::kFloat && tokens <= 8 ? Matmul4bitKernel::kTiled
                                                   : Matmul4bitKernel::kDequantizeThenMatmul;
}

at::Tensor Matmul4bit(const at::Tensor& x, const Packed4bitWeight& weight, const at::Tensor& bias,
                      const Matmul4bitOptions& options) {
  TORCH_CHECK(x.device() == weight.packed.device() && x.size(-1) == weight.in_features,
              "Matmul4bit: x ", x.sizes(), " on ", x.device(), " for a [", weight.out_features,
              ", ", weight.in_features, "] 4-bit weight on ", weight.packed.device());
  TORCH_CHECK(!bias.defined() ||
                  (bias.scalar_type() == x.scalar_type() && bias.numel() == weight.out_features),
              "Matmul4bit: the bias must be [out] in x's dtype");
  const c10::optional<at::Tensor> optional_bias =
      bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt;
  return Matmul4bitFunction::apply(x, optional_bias, weight, options);
}

int64_t Matmul4bitSavedBytes(const at::Tensor& output) {
  const auto node =
      std::dynamic_pointer_cast<torch::autograd::CppNode<Matmul4bitFunction>>(output.grad_fn());
  if (node == nullptr) return -1;
  int64_t bytes = 0;
  for (const at::Tensor& t : node->ctx_.get_saved_variables()) {
    if (t.defined()) bytes += static_cast<int64_t>(t.nbytes());
  }
  return bytes;
}

}  // namespace zt::worker::model
