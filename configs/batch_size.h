// DeepSpeed's batch-size triad (deepspeed/runtime/config.py _set_batch_related_parameters and
// _batch_assertion): train_batch_size (TB) = train_micro_batch_size_per_gpu (MB) *
// gradient_accumulation_steps (GAS) * W, W the data-parallel world size. Missing members are
// derived with integer floor division exactly as DeepSpeed does:
//   TB, MB      -> GAS = (TB // MB) // W          TB only -> GAS = 1, MB = TB // W
//   TB, GAS     -> MB = (TB // W) // GAS          MB only -> GAS = 1, TB = MB * W
//   MB, GAS     -> TB = MB * GAS * W              neither TB nor MB -> error
// then TB > 0, MB > 0, GAS > 0 and TB == MB * GAS * W are checked in that order. Every message
// names the keys and the numbers, and says which members were derived.
#pragma once

#include <cstdint>
#include <optional>

#include "configs/diagnostics.h"

namespace zt::configs {

struct BatchTriad {
  int64_t train_batch_size = 0;
  int64_t train_micro_batch_size_per_gpu = 0;
  int64_t gradient_accumulation_steps = 0;
};

// Derives and checks the triad for `world_size` (> 0). Errors go to `diag` under the path of
// the key at fault ("train_batch_size" for the product check); returns nullopt on error.
std::optional<BatchTriad> ResolveBatchTriad(std::optional<int64_t> train_batch_size,
                                            std::optional<int64_t> micro_batch_per_gpu,
                                            std::optional<int64_t> gradient_accumulation_steps,
                                            int64_t world_size, Diagnostics& diag);

}  // namespace zt::configs
