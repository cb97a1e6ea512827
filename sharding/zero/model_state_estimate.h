// `zerotune estimate`'s arithmetic: the model-state bytes every data-parallel rank holds for a
// decoder described by its config.json, per ZeRO stage, computed torch-free from the same pieces
// the engine uses: the decoder's tensors in forward order (the worker's Decoder::NamedTensors
// order and shapes, LoRA adapters after their linear), the decay / no-decay groups
// (parameter_groups.h), and each group's FlatLayout (partition.h) cut with the resolved
// zero_optimization.reduce_bucket_size and the engine's alignment of 2.
//
// Stages 0-2 are exact: the bytes equal what ZeroEngine allocates on each rank
// (ParameterBufferBytes, GradientAccumulatorBytes, OptimizerStateBytes, UpdateBufferBytes), and
// base weights are the frozen tensors' bytes (replicated below stage 3). Stage 3 is exact too
// (Zero3Parameters::ResidentBytes, Zero3Optimizer's bytes): DeepSpeed's per-parameter
// partitioning, ceil(n / W) elements of every parameter on every rank, a parameter of at most
// stage3_param_persistence_threshold elements held whole instead (frozen) or as well
// (trainable), while the persistent total stays within stage3_model_persistence_threshold;
// gradients and fp32 optimizer state partitioned the same way. Bucket staging during backward
// is not counted. With TrainingSetup::activations, one micro-batch's activations and temporary
// buffers (activation_estimate.h) are added as device rows of every stage. With q_lora the
// frozen decoder linears are bitsandbytes 4-bit as Packed4bitWeight stores them (packed
// numel / 2, per-block absmax and quant maps; at stage 3 each linear's storage / W).
//
// Units: bytes, except *_numel (elements).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <optional>

#include "absl/status/statusor.h"
#include "configs/ds_config.h"
#include "configs/lora_target_modules.h"
#include "configs/model_config.h"
#include "nlohmann/json.hpp"
#include "sharding/zero/activation_estimate.h"

namespace zt::sharding {

// One tensor of the decoder, as the worker's Decoder names it.
struct DecoderTensor {
  std::string name;  // "model.layers.0.self_attn.q_proj.lora_A.weight"
  int64_t numel = 0;
  bool trainable = false;
  bool quantized = false;  // q_lora: a 4-bit decoder-layer linear weight
};

struct TrainingSetup {
  bool lora = false;    // --use_lora: adapters trainable, the base frozen
  bool q_lora = false;  // --q_lora: frozen decoder-layer linears in 4-bit NF4
  int64_t lora_r = 8;
  configs::LoraTargetModules lora_targets;
  // q_lora's storage (--bnb_4bit_use_double_quant; bitsandbytes' default blocksize).
  bool double_quant = true;
  int64_t quant_blocksize = 64;
  // Bytes per element of the frozen tensors left unquantized; 0: the parameter dtype
  // (q_lora with --kbit_upcast fp32: 4).
  int64_t frozen_param_bytes = 0;
  // Set: one micro-batch's activations and temporary buffers are counted too.
  std::optional<ActivationSetup> activations;
};

// bitsandbytes' bytes for one 4-bit weight of `numel` elements as it is stored
// (docs/quantize.md): packed codes ceil(numel / 2), the 16-entry fp32 quant map, and per block of
// `blocksize` an fp32 absmax or, with double quantization, a uint8 code plus an fp32 absmax
// per 256 blocks and the 256-entry fp32 nested quant map.
int64_t Quant4WeightBytes(int64_t numel, bool double_quant, int64_t blocksize);

// Every tensor in forward order (tied lm_head listed once). InvalidArgument naming
// --lora_target_modules when a target matches no module (as the worker's ApplyLora),
// Unimplemented for lm_head; InvalidArgument naming --lora_r for r < 1.
absl::StatusOr<std::vector<DecoderTensor>> ListDecoderTensors(const configs::ModelConfig& model,
                                                              const TrainingSetup& setup);

// Bytes of one kind of model state on one rank, and where it lives.
struct StateBytes {
  int64_t bytes = 0;
  bool on_host = false;
};

struct StageEstimate {
  int stage = 0;
  bool offload = false;  // offload_optimizer.device = "cpu" applies (stages 1-3)
  int64_t partition_numel = 0;  // trainable elements this rank's partition holds (with padding)
  StateBytes base_weights;      // frozen tensors
  StateBytes trainable;         // trainable parameters (the engine's flat buffers)
  StateBytes gradients;         // gradient accumulators (partition, or whole at stage 0)
  StateBytes optimizer;         // master + moments + master-dtype gradient (+ 16-bit host copy)
  StateBytes update_buffer;     // stages 1-2: this rank's updated chunks before the all-gather
  StateBytes activations;       // with TrainingSetup::activations (device)
  StateBytes temporaries;       // backward gradients, the dequantized 4-bit weight (device)
  bool counts_activations = false;
  std::string refused;          // non-empty: train refuses this stage for the setup (why)
  int64_t DeviceBytes() const;
  int64_t HostBytes() const;
  // The peak RSS of the same run on the CPU, where device and host are one memory: both totals
  // plus kCpuRuntimeFootprintBytes (activation_estimate.h).
  int64_t CpuRunRssBytes() const;
};

struct ModelStateEstimate {
  int world_size = 1;
  int configured_stage = 0;
  std::string param_dtype;  // "fp32", "bf16", "fp16"
  int64_t reduce_bucket_numel = 0;
  int64_t total_params = 0;      // every tensor's elements (tied once)
  int64_t trainable_params = 0;  // unpadded
  int num_groups = 0;            // engine parameter groups (decay / no-decay)
  std::vector<StageEstimate> stages;  // 0, 1, 2, 3
};

// Per-rank model-state bytes for `world_size` data-parallel ranks. The parameter dtype follows
// the resolved config (bf16.enabled / fp16.enabled, else fp32); the optimizer master is fp32.
absl::StatusOr<ModelStateEstimate> EstimateModelStates(const configs::ModelConfig& model,
                                                       const TrainingSetup& setup,
                                                       const configs::DsConfig& ds,
                                                       int world_size);

// "1.50 GiB (1610612736 B)"-style table, one column per stage, a device and a host total.
std::string FormatEstimateTable(const ModelStateEstimate& estimate);
// The same numbers for scripts: {"world_size", ..., "stages": [{"stage",
// "base_weights": {"bytes", "location"}, ...}]}.
nlohmann::json EstimateToJson(const ModelStateEstimate& estimate);

}  // namespace zt::sharding
