// A ds_config resolved the way DeepSpeed (newest release, docs/ds_config.md) reads it, for the
// data-parallel world size and training arguments of one job: "auto" values filled as the HF
// Trainer does (hf_auto.h), every key checked against the schema (ds_schema.h), the batch triad
// derived (batch_size.h), every combination DeepSpeed rejects rejected with its keys named, and
// every setting zerotune does not implement either rejected or warned about by name.
//
// The result has two faces: typed fields for the engine (units in the names: *_numel counts
// elements, never bytes) and `resolved`, the whole config as JSON with DeepSpeed's key names
// and every default filled in (what `zerotune validate-config` prints). Torch-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "configs/diagnostics.h"
#include "configs/training_arguments.h"
#include "nlohmann/json.hpp"

namespace zt::configs {

enum class OffloadDevice { kNone, kCpu };
enum class WireDtype { kFp32, kFp16, kBf16 };

struct OffloadConfig {
  OffloadDevice device = OffloadDevice::kNone;
  bool pin_memory = true;
};

struct ZeroConfig {
  int stage = 0;
  bool contiguous_gradients = true;
  bool reduce_scatter = true;
  bool overlap_comm = false;  // resolved: DeepSpeed's null means "true for stage 3 only"
  int64_t reduce_bucket_numel = 500000000;
  int64_t allgather_bucket_numel = 500000000;
  int64_t sub_group_numel = 1000000000;
  int64_t prefetch_bucket_numel = 50000000;
  int64_t param_persistence_threshold_numel = 100000;
  int64_t model_persistence_threshold_numel = INT64_MAX;
  int64_t max_live_parameters_numel = 1000000000;
  int64_t max_reuse_distance_numel = 1000000000;
  bool gather_16bit_weights_on_model_save = false;
  bool load_from_fp32_weights = true;
  bool ignore_unused_parameters = true;
  OffloadConfig offload_optimizer;  // stages 1-3
  OffloadConfig offload_param;      // stage 3 only (kNone below it)
};

struct Fp16Config {
  bool enabled = false;
  double loss_scale = 0.0;  // 0 = dynamic
  int64_t initial_scale_power = 16;
  int64_t loss_scale_window = 1000;
  int64_t hysteresis = 2;
  bool consecutive_hysteresis = false;
  int64_t min_loss_scale = 1;
};

struct Bf16Config {
  bool enabled = false;
  bool check_grad_overflow = true;
};

// Adam / AdamW (the optimizers zerotune implements).
struct OptimizerConfig {
  std::string type = "AdamW";  // "Adam" or "AdamW"
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool adamw_mode = true;  // decoupled weight decay: type AdamW, or Adam with adam_w_mode
  bool bias_correction = true;
};

// One of DeepSpeed's schedulers; `params` holds every parameter with its default filled in
// ("auto" for step counts not known yet).
struct SchedulerConfig {
  std::string type;  // WarmupLR, WarmupDecayLR, WarmupCosineLR, OneCycle, LRRangeTest
  nlohmann::json params;
};

struct DsConfig {
  int64_t train_batch_size = 0;
  int64_t train_micro_batch_size_per_gpu = 0;
  int64_t gradient_accumulation_steps = 0;
  double gradient_clipping = 1.0;  // 0 disables
  bool prescale_gradients = false;
  double gradient_predivide_factor = 1.0;
  WireDtype communication_data_type = WireDtype::kFp32;  // resolved from fp16/bf16 when null
  OptimizerConfig optimizer;
  std::optional<SchedulerConfig> scheduler;  // none: the trainer's --lr_scheduler_type
  Fp16Config fp16;
  Bf16Config bf16;
  ZeroConfig zero;
  bool use_node_local_storage = false;
  std::string tag_validation = "Warn";  // Ignore, Warn or Fail

  nlohmann::json resolved;             // DeepSpeed key names, all defaults filled
  std::vector<ConfigIssue> warnings;   // accepted-but-ignored settings, pending "auto"s
};

struct DsResolveOptions {
  int64_t world_size = 1;                     // data-parallel ranks
  const TrainingArguments* args = nullptr;    // null: no HF "auto" resolution
  std::optional<int64_t> hidden_size;         // for the bucket-size "auto"s
  std::optional<int64_t> num_training_steps;  // for the scheduler "auto"s
};

// Resolves `raw` (as read by ReadTolerantJson). Every problem goes to `diag`; the returned value
// is meaningful only when diag has no errors.
DsConfig ResolveDsConfig(const nlohmann::json& raw, const DsResolveOptions& options,
                         Diagnostics& diag);

// Reads `path` (DeepSpeed's tolerant JSON) and resolves it. InvalidArgument listing every
// error, each "<json path>: <message>", prefixed by the path; NotFound for a missing file.
absl::StatusOr<DsConfig> LoadDsConfig(const std::string& path, const DsResolveOptions& options);

}  // namespace zt::configs
