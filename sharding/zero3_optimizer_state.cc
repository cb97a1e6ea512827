// Zero3Optimizer's checkpoint state: export as views into the optimizer partitions, import with
// re-partitioning through the caller's fill callback (contract in training_engine.h).
#include <ATen/ATen.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "sharding/parameter_groups.h"
#include "sharding/zero3_optimizer.h"

namespace zt::sharding {
namespace {

// Rank r's piece of a parameter of `numel` elements cut in ceil(numel / W) (§9.1): offset and
// length (0 for a rank past the end).
std::pair<int64_t, int64_t> PieceOf(const Zero3Parameter& p, int rank) {
  const int64_t begin = std::min<int64_t>(rank * p.partition_numel, p.numel);
  const int64_t end = std::min<int64_t>(begin + p.partition_numel, p.numel);
  return {begin, end - begin};
}

}  // namespace

std::vector<std::vector<int>> Zero3Optimizer::StateGroups() const {
  std::vector<int> decay, no_decay;
  for (int i = 0; i < static_cast<int>(ids_.size()); ++i) {
    const bool decays = !options_.hf_decay_groups ||
                        HasWeightDecay(params_->param(ids_[i]).names[0]);
    (decays ? decay : no_decay).push_back(i);
  }
  std::vector<std::vector<int>> groups;
  if (!decay.empty()) groups.push_back(std::move(decay));
  if (!no_decay.empty()) groups.push_back(std::move(no_decay));
  return groups;
}

std::vector<TrainingEngine::StateGroupLayout> Zero3Optimizer::StateLayout() const {
  std::vector<StateGroupLayout> out;
  for (const std::vector<int>& members : StateGroups()) {
    StateGroupLayout g;
    g.weight_decay = WeightDecayOf(members[0]);
    g.layout = FlatLayoutOptions{params_->comm().Size(), /*bucket_numel=*/0, /*alignment=*/1};
    for (int i : members) {
      const Zero3Parameter& p = params_->param(ids_[i]);
      g.names.push_back(p.names[0]);
      g.shapes.push_back(p.shape);
      g.param_dtype = p.dtype;
      g.master_dtype = partitions_[i]->master_dtype();
      g.flat_numel += p.numel;
      g.partition_numel += p.partition_numel;
    }
    out.push_back(std::move(g));
  }
  return out;
}

std::vector<ParamPiece> Zero3Optimizer::PartitionPieces(int group, int partition_rank) const {
  std::vector<ParamPiece> pieces;
  const std::vector<int> members = StateGroups().at(group);
  int64_t partition_offset = 0;
  for (int j = 0; j < static_cast<int>(members.size()); ++j) {
    const Zero3Parameter& p = params_->param(ids_[members[j]]);
    const auto [offset, numel] = PieceOf(p, partition_rank);
    if (numel > 0) pieces.push_back(ParamPiece{j, offset, partition_offset, numel});
    partition_offset += p.partition_numel;
  }
  return pieces;
}

TrainingEngine::StateCounters Zero3Optimizer::StateCountersNow() const {
  StateCounters c;
  c.stage = 3;
  c.world_size = params_->comm().Size();
  c.partition_world = c.world_size;
  c.partition_rank = params_->comm().Rank();
  c.applied_steps = control_.applied_steps();
  c.skipped_steps = control_.skipped_steps();
  c.loss_scaler = control_.loss_scaler().state();
  return c;
}

absl::StatusOr<std::vector<TrainingEngine::StateSlice>> Zero3Optimizer::StateSlices() {
  ZT_RETURN_IF_ERROR(window_.CheckBetweenWindows("zero3: the optimizer state export"));
  std::vector<StateSlice> out;
  const std::vector<std::vector<int>> groups = StateGroups();
  const int rank = params_->comm().Rank();
  for (int g = 0; g < static_cast<int>(groups.size()); ++g) {
    for (int j = 0; j < static_cast<int>(groups[g].size()); ++j) {
      const int i = groups[g][j];
      const Zero3Parameter& p = params_->param(ids_[i]);
      const auto [offset, numel] = PieceOf(p, rank);
      if (numel == 0) continue;
      const OptimizerPartition& state = *partitions_[i];
      out.push_back(StateSlice{g, j, p.names[0], offset, numel,
                               state.master().narrow(0, 0, numel),
                               state.exp_avg().narrow(0, 0, numel),
                               state.exp_avg_sq().narrow(0, 0, numel)});
    }
  }
  return out;
}

absl::Status Zero3Optimizer::ImportState(const StateCounters& counters,
                                         const StateSliceFill& fill) {
  at::NoGradGuard no_grad;
  for (const auto& state : partitions_) {
    state->master().zero_();
    state->exp_avg().zero_();
    state->exp_avg_sq().zero_();
  }
  ZT_ASSIGN_OR_RETURN(std::vector<StateSlice> slices, StateSlices());
  for (const StateSlice& slice : slices) ZT_RETURN_IF_ERROR(fill(slice));
  // The parameters are the master rounded to their dtype, as a step leaves them.
  for (size_t i = 0; i < ids_.size(); ++i) {
    Zero3Parameter& p = params_->mutable_param(ids_[i]);
    p.partition.detach().copy_(partitions_[i]->master());
  }
  params_->ZeroGradientPartitions();
  control_.Restore(counters.applied_steps, counters.skipped_steps, counters.loss_scaler);
  return params_->PartitionsUpdated();
}

}  // namespace zt::sharding
