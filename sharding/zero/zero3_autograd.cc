#include "sharding/zero/zero3_autograd.h"

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "sharding/zero/tensor_storage.h"
#include "sharding/zero/zero3_parameters.h"

namespace zt::sharding {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// This rank's pieces of the rank-averaged full gradients `grads` of the parameters `ids` (one
// use each in a unit; undefined: zero), with one reduce-scatter per (dtype, device) group
// (docs/training.md, reduce_scatter_coalesced): each gradient zero-padded to W * ps elements
// and cut in W chunks, rank r's chunks of every parameter side by side, divided by W. Each piece
// is added to the parameter's gradient partition: returned for fp32 / fp64 (autograd adds it to
// partition.grad), undefined for 16-bit ones (accumulated in fp32 already).
variable_list ReduceScatterUnit(Zero3Parameters& owner, const std::vector<int>& ids,
                                const variable_list& grads) {
  const int world = owner.comm().Size();
  variable_list pieces(ids.size());
  for (const std::vector<size_t>& group : GroupByDtypeAndDevice(owner.params(), ids)) {
    const Zero3Parameter& first = owner.param(ids[group[0]]);
    int64_t chunk = 0;
    for (size_t k : group) chunk += owner.param(ids[k]).partition_numel;
    const at::TensorOptions options = at::TensorOptions().dtype(first.dtype).device(first.device);
    at::Tensor input = EmptyOutsideHeap(world * chunk, options).zero_();
    const at::Tensor by_rank = input.view({world, chunk});
    int64_t offset = 0;
    for (size_t k : group) {
      const Zero3Parameter& p = owner.param(ids[k]);
      const int64_t ps = p.partition_numel;
      if (k < grads.size() && grads[k].defined()) {
        // [W, ps] of the flat gradient: the full rows, then the last one's head.
        const at::Tensor flat = grads[k].reshape({-1});
        const at::Tensor rows = by_rank.narrow(1, offset, ps);
        const int64_t full_rows = p.numel / ps, tail = p.numel % ps;
        rows.narrow(0, 0, full_rows).copy_(flat.narrow(0, 0, full_rows * ps).view({full_rows, ps}));
        if (tail != 0) {
          rows[full_rows].narrow(0, 0, tail).copy_(flat.narrow(0, full_rows * ps, tail));
        }
      }
      offset += ps;
    }
    input.div_(world);
    at::Tensor output = at::empty({chunk}, options);
    absl::StatusOr<std::unique_ptr<Work>> work =
        owner.comm().ReduceScatter(input, output, ReduceOp::kSum);
    ThrowIfZero3Error(work.status());
    // A device consumer's stream waits for the op's event; the host does not (communicator.h).
    const absl::Status waited = (*work)->WaitOnStream(owner.Deadline());
    ThrowIfZero3Error(waited.ok() ? waited
                             : absl::Status(waited.code(),
                                            absl::StrCat("reduce-scatter of the gradients of \"",
                                                         first.names[0], "\", ...: ",
                                                         waited.message())));
    offset = 0;
    for (size_t k : group) {
      const Zero3Parameter& p = owner.param(ids[k]);
      at::Tensor piece = output.narrow(0, offset, p.partition_numel).to(p.partition.device());
      offset += p.partition_numel;
      if (!owner.AccumulateGradient(ids[k], piece)) pieces[k] = piece;
    }
  }
  return pieces;
}

// Identity; backward first all-gathers the unit's parked tensors again (pre-backward hook).
class RegatherNode : public torch::autograd::Function<RegatherNode> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& output,
                            Zero3Parameters* owner, int64_t token) {
    ctx->saved_data["owner"] = reinterpret_cast<int64_t>(owner);
    ctx->saved_data["token"] = token;
    return output;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    reinterpret_cast<Zero3Parameters*>(ctx->saved_data["owner"].toInt())
        ->RegatherParked(ctx->saved_data["token"].toInt());
    return {grads[0], at::Tensor(), at::Tensor()};
  }
};

// Identity; backward frees the unit's parked tensors (post-backward hook: every node of the
// unit that reads them lies between its output and its input).
class FreeNode : public torch::autograd::Function<FreeNode> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, Zero3Parameters* owner,
                            int64_t token) {
    ctx->saved_data["owner"] = reinterpret_cast<int64_t>(owner);
    ctx->saved_data["token"] = token;
    return input;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    reinterpret_cast<Zero3Parameters*>(ctx->saved_data["owner"].toInt())
        ->FreeParked(ctx->saved_data["token"].toInt(), /*forget=*/true);
    return {grads[0], at::Tensor(), at::Tensor()};
  }
};

// The gathered tensors of a unit's trainable parameters as one function of their partitions:
// forward hands out the all-gathered values, backward (once the gradients of all of them are
// in) reduce-scatters them together (ReduceScatterUnit).
class GatherUnitNode : public torch::autograd::Function<GatherUnitNode> {
 public:
  static variable_list forward(AutogradContext* ctx, at::TensorList partitions,
                               Zero3Parameters* owner, std::vector<int64_t> ids,
                               std::vector<at::Tensor> gathered) {
    ctx->saved_data["owner"] = reinterpret_cast<int64_t>(owner);
    ctx->saved_data["ids"] = ids;
    (void)partitions;  // the values come from the all-gather of every rank's partitions
    return gathered;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* owner = reinterpret_cast<Zero3Parameters*>(ctx->saved_data["owner"].toInt());
    const std::vector<int64_t> ids64 = ctx->saved_data["ids"].toIntVector();
    variable_list out = ReduceScatterUnit(*owner, std::vector<int>(ids64.begin(), ids64.end()),
                                          grads);
    out.resize(out.size() + 3);  // owner, ids, gathered
    return out;
  }
};

}  // namespace

void ThrowIfZero3Error(const absl::Status& status) {
  TORCH_CHECK(status.ok(), "ZeRO stage 3: ", status.ToString());
}

bool IsSixteenBit(at::ScalarType dtype) { return dtype == at::kBFloat16 || dtype == at::kHalf; }

std::vector<std::vector<size_t>> GroupByDtypeAndDevice(
    const std::vector<Zero3Parameter>& params, const std::vector<int>& ids) {
  std::vector<std::vector<size_t>> groups;
  for (size_t k = 0; k < ids.size(); ++k) {
    const Zero3Parameter& p = params[ids[k]];
    auto group = std::find_if(groups.begin(), groups.end(), [&](const std::vector<size_t>& g) {
      const Zero3Parameter& first = params[ids[g[0]]];
      return first.dtype == p.dtype && first.device == p.device;
    });
    if (group == groups.end()) {
      groups.emplace_back();
      group = groups.end() - 1;
    }
    group->push_back(k);
  }
  return groups;
}

std::vector<at::Tensor> GatherUnitTrainable(Zero3Parameters* owner,
                                            const std::vector<at::Tensor>& partitions,
                                            std::vector<int64_t> ids,
                                            std::vector<at::Tensor> gathered) {
  return GatherUnitNode::apply(at::TensorList(partitions), owner, std::move(ids),
                               std::move(gathered));
}

at::Tensor RegatherBeforeBackward(const at::Tensor& output, Zero3Parameters* owner,
                                  int64_t token) {
  return RegatherNode::apply(output, owner, token);
}

at::Tensor FreeAfterBackward(const at::Tensor& input, Zero3Parameters* owner, int64_t token) {
  return FreeNode::apply(input, owner, token);
}

}  // namespace zt::sharding
