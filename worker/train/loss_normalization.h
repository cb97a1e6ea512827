// The one place a micro-batch's summed token loss becomes the loss its backward runs on, so the
// engines' gradients (the mean over ranks of the sum over the window, training_engine.h) are
// what the HF Trainer's are:
//   token (HF >= 4.46, average_tokens_across_devices): summed * world / (target tokens of the
//     whole window on all ranks): the gradient of the sum of every token loss of the step over
//     its token count;
//   per_micro_batch (DeepSpeed's engine.backward, HF without num_items_in_batch): the
//     micro-batch's mean token loss / the window's micro-batch count (HF's
//     current_gradient_accumulation_steps, so a short last window of an epoch is not
//     under-weighted).
// The normalised values summed over a window and averaged over ranks are the loss HF logs.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace zt::worker::train {

struct LossNormalization {
  bool per_token = true;      // --loss_normalization token; false: per_micro_batch
  double world = 1;           // data-parallel ranks
  double window = 1;          // micro-batches in this optimizer step (this rank)
  double global_targets = 0;  // per_token: target tokens of the step on all ranks

  // `summed`: a micro-batch's summed token loss; `targets`: its target tokens. A micro-batch
  // (or step) without targets contributes a zero loss that still runs backward (every rank runs
  // the same collectives).
  at::Tensor Normalize(const at::Tensor& summed, int64_t targets) const;
};

}  // namespace zt::worker::train
