// The asynchronous offload step against the synchronous one, shared by the world-size-1 unit
// test and the two-rank Gloo test: an MLP in decay / no-decay groups (so the update order
// interleaves two groups), several buckets, gradient accumulation and clipping, trained with
// offload_optimizer "cpu" both ways; the async run's forward waits for each layer's parameters
// by name. EXPECTs the parameters bitwise equal after every step and the per-bucket completion
// counters in update (= forward) order.
#pragma once

#include <memory>

#include "sharding/collectives/communicator.h"

namespace zt::sharding::testing {

void ExpectAsyncOffloadStepMatchesSync(std::shared_ptr<Communicator> comm, int stage);

}  // namespace zt::sharding::testing
