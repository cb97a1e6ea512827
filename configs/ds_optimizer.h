// The ds_config "optimizer" and "scheduler" blocks (DeepSpeed config.py, engine.py
// _configure_basic_optimizer / _scheduler_from_config, lr_schedules.py). DeepSpeed passes
// "params" to the constructor, so an unknown parameter is an error (a TypeError there).
//
// optimizer.type is matched case-insensitively against DeepSpeed's own names and exactly
// against torch.optim class names; zerotune implements Adam and AdamW ("Adam" is decoupled
// AdamW unless "adam_w_mode": false, as in DeepSpeed) and rejects the others by name.
// scheduler.type is case-sensitive; zerotune implements DeepSpeed's five schedulers.
#pragma once

#include <optional>

#include "configs/diagnostics.h"
#include "nlohmann/json.hpp"

namespace zt::configs {

// `in` is the raw block (an object). Returns the block with type canonicalised
// ("adamw" -> "AdamW") and every Adam parameter filled; null on error. `zero_stage` names the
// stage in the 1-bit optimizers' message.
nlohmann::json ResolveOptimizerBlock(const nlohmann::json& in, int zero_stage, Diagnostics& diag);

// `optimizer_lr` is the resolved optimizer's lr (WarmupLR's warmup_max_lr default). "auto" is
// kept for total_num_steps / warmup_num_steps when `allow_pending_steps`.
nlohmann::json ResolveSchedulerBlock(const nlohmann::json& in, std::optional<double> optimizer_lr,
                                     bool allow_pending_steps, Diagnostics& diag);

}  // namespace zt::configs
