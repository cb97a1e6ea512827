// What a ZeroEngine (zero_engine.h) is built with, and how a resolved ds_config maps onto it:
// stage, buckets, overlap, offload, clipping, optimizer, precision and fp16 loss scaling.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "configs/ds_config.h"
#include "sharding/optim/loss_scaler.h"
#include "sharding/optim/lr_scheduler.h"
#include "sharding/zero/optimizer_offload.h"

namespace zt::sharding {

enum class Precision { kFloat, kFp16, kBf16 };  // kFloat: fp32 or fp64 parameters

struct ZeroEngineOptions {
  int stage = 0;
  int64_t reduce_bucket_numel = 500000000;
  bool overlap_comm = false;
  OffloadOptions offload;
  double gradient_clipping = 0.0;  // 0 disables
  configs::OptimizerConfig optimizer;
  Precision precision = Precision::kFloat;
  LossScalerOptions loss_scaler;                 // fp16 only
  bool check_grad_overflow = true;               // bf16 only (fp16 always checks)
  std::shared_ptr<const LrScheduler> scheduler;  // null: constant optimizer.lr
  absl::Duration collective_timeout = absl::Minutes(5);
  bool track_gradient_bytes = false;
  // Offload only: the optimizer step runs on a worker thread after Step() returns (see above);
  // the caller must not issue collectives of its own on `comm` until WaitForAllParameters().
  bool async_offload_step = false;
};

// The fp16 block's loss scaling (fp16.loss_scale, initial_scale_power, ...).
LossScalerOptions LossScalerOptionsFromDsConfig(const configs::DsConfig& config);

// The engine options a resolved ds_config asks for (InvalidArgument naming the key for what
// this engine does not run: stage 3 (zero3_optimizer.h), a non-Adam optimizer).
absl::StatusOr<ZeroEngineOptions> ZeroEngineOptionsFromDsConfig(const configs::DsConfig& config);

// OK, or InvalidArgument naming the ds_config key of an option the engine cannot run with.
absl::Status CheckZeroEngineOptions(const ZeroEngineOptions& options);

}  // namespace zt::sharding
