#include "sharding/zero/zero3_optimizer.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "sharding/zero/grad_norm.h"
#include "sharding/zero/parameter_groups.h"
#include "sharding/zero/zero_engine.h"

namespace zt::sharding {

absl::StatusOr<Zero3OptimizerOptions> Zero3OptimizerOptionsFromDsConfig(
    const configs::DsConfig& c) {
  if (c.zero.stage != 3) {
    return absl::InvalidArgumentError(absl::StrCat("zero_optimization.stage is ", c.zero.stage,
                                                   "; the stage-3 optimizer runs stage 3"));
  }
  if (c.optimizer.type != "Adam" && c.optimizer.type != "AdamW") {
    return absl::InvalidArgumentError(absl::StrCat("optimizer.type is \"", c.optimizer.type,
                                                   "\"; the ZeRO engine runs Adam and AdamW"));
  }
  Zero3OptimizerOptions o;
  o.gradient_clipping = c.gradient_clipping;
  o.optimizer = c.optimizer;
  o.offload.offload = c.zero.offload_optimizer.device == configs::OffloadDevice::kCpu;
  o.offload.pin_memory = c.zero.offload_optimizer.pin_memory;
  o.check_grad_overflow = c.bf16.check_grad_overflow;
  o.fp16 = c.fp16.enabled;
  if (o.fp16) o.loss_scaler = LossScalerOptionsFromDsConfig(c);
  return o;
}

namespace {

StepControlOptions StepControlOptionsFor(const Zero3OptimizerOptions& o, at::ScalarType dtype) {
  StepControlOptions c;
  c.optimizer = o.optimizer;
  c.scheduler = o.scheduler;
  c.gradient_clipping = o.gradient_clipping;
  c.fp16 = o.fp16;
  c.loss_scaler = o.loss_scaler;
  c.skip_non_finite = o.fp16 || (o.check_grad_overflow && dtype == at::kBFloat16);
  return c;
}

}  // namespace

Zero3Optimizer::Zero3Optimizer(Zero3Parameters* params, Zero3OptimizerOptions options)
    : params_(params), options_(std::move(options)),
      control_(StepControlOptionsFor(options_, params->param(params->TrainableIds().at(0)).dtype)) {}

absl::StatusOr<std::unique_ptr<Zero3Optimizer>> Zero3Optimizer::Create(
    Zero3Parameters* params, const Zero3OptimizerOptions& options) {
  if (params->TrainableIds().empty()) {
    return absl::InvalidArgumentError("zero3: no trainable parameter (nothing requires grad)");
  }
  std::unique_ptr<Zero3Optimizer> out(new Zero3Optimizer(params, options));
  out->ids_ = params->TrainableIds();
  for (int id : out->ids_) {
    const Zero3Parameter& p = params->param(id);
    if ((p.dtype == at::kHalf) != options.fp16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "zero3: parameter \"", p.names[0], "\" is ", c10::toString(p.dtype), " but fp16.enabled is ",
          options.fp16 ? "true (expected Half parameters)" : "false (Half parameters need fp16 loss scaling)"));
    }
    out->partitions_.push_back(
        std::make_unique<OptimizerPartition>(p.partition.detach(), options.offload));
  }
  return out;
}

absl::Status Zero3Optimizer::Backward(const at::Tensor& loss, bool last_micro_batch) {
  ZT_RETURN_IF_ERROR(window_.BeginBackward(last_micro_batch));
  try {
    ScaleLoss(loss).backward();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("zero3 backward: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::StatusOr<StepResult> Zero3Optimizer::Step() {
  ZT_RETURN_IF_ERROR(window_.CheckClosed());
  window_.End();
  StepResult result;
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (int id : ids_) {
    const at::Tensor grad = params_->GradientPartition(id);  // fp32 for 16-bit parameters
    grads.push_back(grad.defined() ? grad : at::zeros_like(params_->param(id).partition));
  }
  // Reduce-scatter spreads any rank's inf/NaN into the partitions, and the norm sums them all:
  // every rank sees the same non-finite norm (-1), so all skip together.
  ZT_ASSIGN_OR_RETURN(const double scaled_norm,
                      GlobalNorm(SquaredNormFp64(grads), &params_->comm(), params_->Deadline()));
  if (control_.skips_non_finite() && scaled_norm < 0) {
    ZT_RETURN_IF_ERROR(control_.Skip(result));
    params_->ZeroGradientPartitions();
    ZT_RETURN_IF_ERROR(params_->PartitionsUpdated());
    return result;
  }
  ZT_ASSIGN_OR_RETURN(const StepDecision decision, control_.Apply(scaled_norm, result));
  for (size_t i = 0; i < ids_.size(); ++i) {
    Zero3Parameter& p = params_->mutable_param(ids_[i]);
    const AdamWHyper hyper = control_.Hyper(decision.step, WeightDecayOf(static_cast<int>(i)));
    partitions_[i]->StageGradChunk(0, grads[i], result.phases);
    ZT_RETURN_IF_ERROR(partitions_[i]->StepChunk(0, decision.multiplier, hyper,
                                                 p.partition.detach(), result.phases));
  }
  params_->ZeroGradientPartitions();
  ZT_RETURN_IF_ERROR(params_->PartitionsUpdated());
  return result;
}

double Zero3Optimizer::WeightDecayOf(int index) const {
  const bool decays = !options_.hf_decay_groups || HasWeightDecay(params_->param(ids_[index]).names[0]);
  return decays ? options_.optimizer.weight_decay : 0.0;
}

std::string Zero3Optimizer::OptimizerName() const { return partitions_[0]->optimizer_name(); }

int64_t Zero3Optimizer::OptimizerStateBytes() const {
  int64_t bytes = 0;
  for (const auto& partition : partitions_) bytes += partition->bytes();
  return bytes;
}

// ---- Checkpoint state: views into the optimizer partitions out, re-partitioned through the
// caller's fill callback in (contract in training_engine.h).

namespace {

// Rank r's piece of a parameter of `numel` elements cut in ceil(numel / W): offset and
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
