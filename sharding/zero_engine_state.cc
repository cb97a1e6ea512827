// ZeroEngine's checkpoint state: export as views into the partitions, import with
// re-partitioning through the caller's fill callback (the contract is in zero_engine.h).
#include <ATen/ATen.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "sharding/zero_engine.h"
#include "sharding/zero_engine_group.h"

namespace zt::sharding {

namespace {

absl::Status CheckBetweenWindows(bool in_backward, const AccumulationWindow& window,
                                 const char* what) {
  if (in_backward) {
    return absl::FailedPreconditionError(
        absl::StrCat("zero engine: ", what, " with a backward in progress"));
  }
  return window.CheckBetweenWindows(what);
}

}  // namespace

std::vector<ZeroEngine::StateGroupLayout> ZeroEngine::StateLayout() const {
  std::vector<StateGroupLayout> out;
  for (const auto& group : groups_) {
    StateGroupLayout g;
    g.names = group->names;
    for (const at::Tensor& p : group->params) g.shapes.push_back(p.sizes().vec());
    g.param_dtype = group->buffer.flat().scalar_type();
    g.master_dtype = group->optimizer->master_dtype();
    g.weight_decay = group->weight_decay;
    g.layout = FlatLayoutOptions{partition_world_, options_.reduce_bucket_numel, 2};
    g.flat_numel = group->buffer.layout().flat_numel();
    g.partition_numel = group->buffer.layout().partition_numel();
    out.push_back(std::move(g));
  }
  return out;
}

std::vector<ParamPiece> ZeroEngine::PartitionPieces(int group, int partition_rank) const {
  return groups_.at(group)->buffer.layout().PartitionPieces(partition_rank);
}

ZeroEngine::StateCounters ZeroEngine::StateCountersNow() const {
  StateCounters c;
  c.stage = options_.stage;
  c.world_size = comm_->Size();
  c.partition_world = partition_world_;
  c.partition_rank = chunk_rank_;
  c.applied_steps = control_.applied_steps();
  c.skipped_steps = control_.skipped_steps();
  c.loss_scaler = control_.loss_scaler().state();
  return c;
}

absl::StatusOr<std::vector<ZeroEngine::StateSlice>> ZeroEngine::StateSlices() {
  // An asynchronous offload step may still be writing the partitions and parameters.
  ZT_RETURN_IF_ERROR(WaitForAllParameters());
  ZT_RETURN_IF_ERROR(CheckBetweenWindows(in_backward_, window_, "exporting state"));
  std::vector<StateSlice> out;
  for (int g = 0; g < static_cast<int>(groups_.size()); ++g) {
    const Group& group = *groups_[g];
    const OptimizerPartition& opt = *group.optimizer;
    for (const ParamPiece& piece : group.buffer.layout().PartitionPieces(chunk_rank_)) {
      StateSlice s;
      s.group = g;
      s.param = piece.param;
      s.name = group.names[piece.param];
      s.offset = piece.param_offset;
      s.numel = piece.numel;
      s.master = opt.master().narrow(0, piece.partition_offset, piece.numel);
      s.exp_avg = opt.exp_avg().narrow(0, piece.partition_offset, piece.numel);
      s.exp_avg_sq = opt.exp_avg_sq().narrow(0, piece.partition_offset, piece.numel);
      out.push_back(std::move(s));
    }
  }
  return out;
}

absl::Status ZeroEngine::ImportState(const StateCounters& counters, const StateSliceFill& fill) {
  ZT_RETURN_IF_ERROR(WaitForAllParameters());
  ZT_RETURN_IF_ERROR(CheckBetweenWindows(in_backward_, window_, "importing state"));
  at::NoGradGuard no_grad;
  for (auto& group : groups_) {
    const OptimizerPartition& opt = *group->optimizer;
    for (at::Tensor t : {opt.master(), opt.exp_avg(), opt.exp_avg_sq()}) t.zero_();
  }
  ZT_ASSIGN_OR_RETURN(std::vector<StateSlice> slices, StateSlices());
  for (const StateSlice& slice : slices) ZT_RETURN_IF_ERROR(fill(slice));
  // The parameters are the master rounded to their dtype, as StepChunk leaves them.
  for (auto& group : groups_) {
    const FlatLayout& layout = group->buffer.layout();
    const at::Tensor& flat = group->buffer.flat();
    std::vector<std::unique_ptr<Work>> gathers;
    std::vector<at::Tensor> sources;  // kept alive until the gathers finished
    for (int b = 0; b < static_cast<int>(layout.buckets().size()); ++b) {
      at::Tensor mine = PartitionChunk(group->optimizer->master(), layout, b)
                            .to(flat.device(), flat.scalar_type(), /*non_blocking=*/false,
                                /*copy=*/true);
      if (options_.stage == 0 || comm_->Size() == 1) {
        // Stage 0 (or one rank): this rank's chunk is the whole bucket region.
        group->buffer.Chunk(b, chunk_rank_).copy_(mine);
        continue;
      }
      ZT_ASSIGN_OR_RETURN(std::unique_ptr<Work> work,
                          comm_->AllGather(mine, group->buffer.BucketRegion(b)));
      gathers.push_back(std::move(work));
      sources.push_back(std::move(mine));
    }
    for (auto& work : gathers) ZT_RETURN_IF_ERROR(work->Wait(Deadline()));
    group->accumulator.zero_();
    std::fill(group->staged.begin(), group->staged.end(), false);
    for (at::Tensor& p : group->params) p.mutable_grad() = at::Tensor();
  }
  control_.Restore(counters.applied_steps, counters.skipped_steps, counters.loss_scaler);
  return absl::OkStatus();
}

}  // namespace zt::sharding
