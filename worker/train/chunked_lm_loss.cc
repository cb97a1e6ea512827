#include "worker/train/chunked_lm_loss.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

namespace zt::worker::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::ScalarType ChunkLossDtype(at::ScalarType input) {
  return input == at::kDouble ? at::kDouble : at::kFloat;
}

// The gradients are computed in the forward pass, scaled by 1, and multiplied by the upstream
// gradient in backward: recomputing them in backward would repeat the logits matmul and the
// softmax (half the loss's work) to save an fp32 buffer the size of rows plus one the size of
// lm_head, small next to the logits they replace.
class ChunkedLinearCrossEntropy : public torch::autograd::Function<ChunkedLinearCrossEntropy> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& rows, const at::Tensor& lm_head,
                            const at::Tensor& targets, int64_t chunk_rows, bool grad_rows,
                            bool grad_head) {
    const at::ScalarType loss_dtype = ChunkLossDtype(rows.scalar_type());
    const int64_t n = rows.size(0);
    at::Tensor total = at::zeros({}, rows.options().dtype(loss_dtype));
    at::Tensor d_rows, d_head;
    if (grad_rows) d_rows = at::empty(rows.sizes(), rows.options().dtype(loss_dtype));
    if (grad_head) d_head = at::zeros(lm_head.sizes(), lm_head.options().dtype(loss_dtype));
    for (int64_t start = 0; start < n; start += chunk_rows) {
      const int64_t count = std::min(chunk_rows, n - start);
      const at::Tensor h = rows.narrow(0, start, count);
      const at::Tensor t = targets.narrow(0, start, count).unsqueeze(1);
      at::Tensor logits = at::linear(h, lm_head);  // in the input dtype, as HF
      if (logits.scalar_type() != loss_dtype) logits = logits.to(loss_dtype);
      // The row-wise kernel of the unchunked loss: each row is read while it is in cache.
      at::Tensor log_probs = at::log_softmax(logits, 1);
      logits.reset();
      total.sub_(log_probs.gather(1, t).sum());
      if (!grad_rows && !grad_head) continue;
      // d loss / d logits = softmax - onehot(target), as log_softmax's backward computes it.
      at::Tensor softmax = log_probs.exp_();
      softmax.scatter_add_(1, t, at::full(t.sizes(), -1, softmax.options()));
      // The matmuls take the input dtype, as autograd's linear backward would.
      const at::Tensor g = softmax.to(rows.scalar_type());
      if (grad_rows) d_rows.narrow(0, start, count).copy_(at::mm(g, lm_head));
      if (grad_head && g.scalar_type() == loss_dtype) {
        d_head.addmm_(g.t(), h);
      } else if (grad_head) {
        d_head.add_(at::mm(g.t(), h));
      }
    }
    ctx->saved_data["d_rows"] = d_rows;
    ctx->saved_data["d_head"] = d_head;
    ctx->saved_data["rows_dtype"] = static_cast<int64_t>(rows.scalar_type());
    ctx->saved_data["head_dtype"] = static_cast<int64_t>(lm_head.scalar_type());
    return total;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor& grad = grads[0];
    auto scaled = [&](const char* name, const char* dtype) {
      const at::Tensor saved = ctx->saved_data[name].toTensor();
      if (!saved.defined()) return at::Tensor();
      return (saved * grad).to(static_cast<at::ScalarType>(ctx->saved_data[dtype].toInt()));
    };
    variable_list out(6);  // targets, chunk_rows and the two flags get none
    out[0] = scaled("d_rows", "rows_dtype");
    out[1] = scaled("d_head", "head_dtype");
    return out;
  }
};

}  // namespace

at::Tensor ChunkedLinearCrossEntropySum(const at::Tensor& rows, const at::Tensor& lm_head,
                                        const at::Tensor& targets, int64_t chunk_bytes) {
  TORCH_CHECK(rows.dim() == 2 && lm_head.dim() == 2 && rows.size(1) == lm_head.size(1),
              "ChunkedLinearCrossEntropySum: rows ", rows.sizes(), ", lm_head ", lm_head.sizes());
  TORCH_CHECK(targets.dim() == 1 && targets.size(0) == rows.size(0),
              "ChunkedLinearCrossEntropySum: targets ", targets.sizes(), ", rows ", rows.sizes());
  const int64_t row_bytes =
      lm_head.size(0) * static_cast<int64_t>(c10::elementSize(ChunkLossDtype(rows.scalar_type())));
  const int64_t chunk_rows = std::max<int64_t>(1, chunk_bytes / std::max<int64_t>(1, row_bytes));
  // Function::apply runs forward without grad mode, so whether gradients are wanted is decided
  // here (no gradients in evaluation, none for a frozen lm_head).
  const bool grad = c10::GradMode::is_enabled();
  return ChunkedLinearCrossEntropy::apply(rows, lm_head, targets, chunk_rows,
                                          grad && rows.requires_grad(),
                                          grad && lm_head.requires_grad());
}

}  // namespace zt::worker::train
