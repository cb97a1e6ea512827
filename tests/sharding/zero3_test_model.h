// The tests' MLP (zero_test_model.h) at ZeRO stage 3: one unit per layer (weight, bias), every
// tensor partitioned (persistence threshold 0), the forward gathering each layer through the
// Zero3Parameters hook.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "sharding/collectives/communicator.h"
#include "sharding/zero/zero3_parameters.h"
#include "sharding/zero/zero_engine.h"

namespace zt::sharding::testing {

// Partitions `params` (they become placeholders); EXPECTs success.
std::unique_ptr<Zero3Parameters> PartitionMlp(std::vector<NamedParameter>& params,
                                              std::shared_ptr<Communicator> comm);
// MlpForward with every layer fetched just in time and released after (collective).
at::Tensor Zero3MlpForward(Zero3Parameters& zero3, const at::Tensor& x);
// The whole trainable tensors in forward order (collective).
std::vector<NamedParameter> GatheredMlp(Zero3Parameters& zero3);

}  // namespace zt::sharding::testing
