// The autograd side of ZeRO-3 (zero3_parameters.h): the node that hands out a unit's gathered
// trainable tensors as one function of their partitions and, in backward, reduce-scatters their
// gradients together (docs/training.md), and the identities whose backward re-gathers or frees
// the tensors a unit parked (DeepSpeed's pre- and post-backward hooks). Backward throws
// c10::Error naming the parameter when a collective fails (autograd has no status).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace zt::sharding {

class Zero3Parameters;
struct Zero3Parameter;

// Throws c10::Error carrying `status` (the decoder's forward and autograd have no status).
void ThrowIfZero3Error(const absl::Status& status);
// bf16 / fp16: gradients accumulate in fp32 (DeepSpeed's grad_accum_dtype).
bool IsSixteenBit(at::ScalarType dtype);
// `ids` (parameter ids) grouped by (dtype, device), groups in order of first appearance and
// members in order: the same on every rank. Each group lists indices into `ids`.
std::vector<std::vector<size_t>> GroupByDtypeAndDevice(
    const std::vector<Zero3Parameter>& params, const std::vector<int>& ids);

// `gathered` (the full tensors of the unit's trainable parameters `ids`) as a differentiable
// function of `partitions` (their leaves); backward reduce-scatters the gradients of all of
// them at once, one collective per (dtype, device) group.
std::vector<at::Tensor> GatherUnitTrainable(Zero3Parameters* owner,
                                            const std::vector<at::Tensor>& partitions,
                                            std::vector<int64_t> ids,
                                            std::vector<at::Tensor> gathered);
// Identity; backward first all-gathers the tensors parked under `token` again.
at::Tensor RegatherBeforeBackward(const at::Tensor& output, Zero3Parameters* owner,
                                  int64_t token);
// Identity; backward frees the tensors parked under `token` (every node of the unit that
// reads them lies between its output and its input).
at::Tensor FreeAfterBackward(const at::Tensor& input, Zero3Parameters* owner, int64_t token);

}  // namespace zt::sharding
