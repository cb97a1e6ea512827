// `zerotune estimate`'s activation arithmetic: the bytes one rank holds for one micro-batch's
// forward and backward of the worker's decoder (worker/model/decoder_layer.cc), beside the model
// states of model_state_estimate.h. Torch-free, from config.json's shapes.
//
// The model, per token of the micro-batch (T = per_device_train_batch_size × model_max_length,
// the padded worst case), in the compute dtype (c bytes) unless noted, counted from what each op
// saves for backward:
//   one layer  2 RMSNorms (fp32 input copy + c normed output each: 2·(4 + c)·h), q/k/v outputs
//              and their rotated copies (2·c·(q + 2·kv)), Qwen3's q/k norms ((4 + c)·(q + kv)),
//              SDPA's saved inputs with k/v expanded to every head plus its output (4·c·q), the
//              MLP's gate, up, silu(gate) and product (4·c·i), and each adapted linear's A output
//              (c·r; x itself is the base matmul's saved input, shared); with --lora_dropout > 0
//              each adapted linear's dropout mask and dropped input (2·c·in: q, k and v draw
//              their own).
//   checkpoints with gradient checkpointing, every layer keeps only its input (L·c·h) and one
//              layer's set above is alive while it is recomputed; without it, all L sets.
//   loss       the chunked cross-entropy (worker/train/chunked_lm_loss.h): two fp32 chunks and
//              one compute-dtype chunk of [rows, V], rows = min(T, 256 MiB / (4·V)), and the final
//              norm's output.
// Temporary buffers: backward's gradients of one layer (the hidden gradient twice and the MLP's
// two intermediate gradients, c·(2h + 2i) per token) and, with --q_lora, the largest linear's
// weight dequantized to the compute dtype (out·in·c: MatMul4Bit dequantizes again in backward).
// Units: bytes.
#pragma once

#include <cstdint>

#include "configs/model_config.h"

namespace zt::sharding {

// What a CPU run's peak RSS adds to the device and host bytes: the worker's own footprint
// (LibTorch's code and allocator pools, oneDNN, the tokenizer), measured as the peak_rss_mib of
// `zerotune-worker train --q_lora` on a model of negligible size
// (tests/data/qlora_trainer_goldens/model_bf16, 3 steps, LibTorch 2.11 CPU): 430 MiB.
inline constexpr int64_t kCpuRuntimeFootprintBytes = int64_t{430} << 20;

struct ActivationSetup {
  int64_t micro_batch = 1;  // --per_device_train_batch_size
  int64_t seq_len = 512;    // --model_max_length
  bool gradient_checkpointing = false;
  int64_t compute_bytes = 2;      // bf16 / fp16: 2; fp32: 4
  int64_t lora_r = 0;             // 0: no LoRA
  int64_t adapted_per_layer = 0;  // linears of one layer with an adapter
  int64_t adapted_in_features = 0;  // their input features, summed
  bool lora_dropout = false;        // --lora_dropout > 0
  bool q_lora = false;            // a 4-bit base: the dequantized weight is a temporary
  int64_t loss_chunk_bytes = int64_t{256} << 20;  // chunked_lm_loss.h kLossChunkBytes
};

struct ActivationEstimate {
  int64_t layer_checkpoints = 0;   // the saved layer inputs (checkpointing) or every layer's set
  int64_t recomputed_layer = 0;    // one layer's set while it is recomputed (checkpointing)
  int64_t loss = 0;                // the loss chunks and final norm output
  int64_t backward_gradients = 0;  // one layer's gradient temporaries
  int64_t dequantized_weight = 0;  // --q_lora: the largest linear in the compute dtype
  int64_t Activations() const { return layer_checkpoints + recomputed_layer + loss; }
  int64_t Temporaries() const { return backward_gradients + dequantized_weight; }
};

// Bytes of one layer's saved tensors for one token (the "one layer" term above).
int64_t LayerActivationBytesPerToken(const configs::ModelConfig& model,
                                     const ActivationSetup& setup);

ActivationEstimate EstimateActivations(const configs::ModelConfig& model,
                                       const ActivationSetup& setup);

}  // namespace zt::sharding
