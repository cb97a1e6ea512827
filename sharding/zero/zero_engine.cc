#include "sharding/zero/zero_engine.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "sharding/zero/grad_norm.h"
#include "sharding/zero/parameter_groups.h"
#include "sharding/zero/zero_engine_group.h"

namespace zt::sharding {

namespace {

absl::Status CheckPrecision(Precision precision, const NamedParameter& p) {
  const at::ScalarType dtype = p.tensor.scalar_type();
  const bool ok = precision == Precision::kFp16   ? dtype == at::kHalf
                  : precision == Precision::kBf16 ? dtype == at::kBFloat16
                                                  : (dtype == at::kFloat || dtype == at::kDouble);
  if (ok) return absl::OkStatus();
  const char* expected = precision == Precision::kFp16   ? "Half (fp16.enabled)"
                         : precision == Precision::kBf16 ? "BFloat16 (bf16.enabled)"
                                                         : "Float or Double (fp16/bf16 disabled)";
  return absl::InvalidArgumentError(absl::StrCat("zero engine: parameter '", p.name, "' is ",
                                                 c10::toString(dtype), "; expected ", expected));
}

absl::Status CheckParameter(const NamedParameter& p, const NamedParameter& first) {
  if (!p.tensor.defined() || !p.tensor.is_leaf() || !p.tensor.requires_grad()) {
    return absl::InvalidArgumentError(absl::StrCat("zero engine: trainable parameter '", p.name,
                                                   "' must be a leaf that requires grad"));
  }
  if (p.tensor.scalar_type() != first.tensor.scalar_type() ||
      p.tensor.device() != first.tensor.device()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "zero engine: parameter '", p.name, "' is ", c10::toString(p.tensor.scalar_type()), " on ",
        p.tensor.device().str(), " but its group starts with '", first.name, "' (",
        c10::toString(first.tensor.scalar_type()), " on ", first.tensor.device().str(),
        "); one dtype and device per parameter group"));
  }
  return absl::OkStatus();
}

StepControlOptions StepControlOptionsFor(const ZeroEngineOptions& o) {
  StepControlOptions c;
  c.optimizer = o.optimizer;
  c.scheduler = o.scheduler;
  c.gradient_clipping = o.gradient_clipping;
  c.fp16 = o.precision == Precision::kFp16;
  c.loss_scaler = o.loss_scaler;
  c.skip_non_finite = c.fp16 || (o.precision == Precision::kBf16 && o.check_grad_overflow);
  return c;
}

}  // namespace

std::vector<ParameterGroup> DecayParameterGroups(const std::vector<NamedParameter>& params) {
  std::vector<std::string> names;
  for (const NamedParameter& p : params) names.push_back(p.name);
  std::vector<ParameterGroup> groups;
  for (const DecayGroup& decay : DecayGroups(names)) {
    ParameterGroup group;
    if (!decay.decay) group.weight_decay = 0.0;
    for (int i : decay.params) {
      group.params.push_back(params[i]);
      group.forward_positions.push_back(i);
    }
    groups.push_back(std::move(group));
  }
  return groups;
}

ZeroEngine::ZeroEngine(ZeroEngineOptions options, std::shared_ptr<Communicator> comm)
    : options_(std::move(options)), comm_(std::move(comm)),
      control_(StepControlOptionsFor(options_)) {
  partition_world_ = options_.stage == 0 ? 1 : comm_->Size();
  chunk_rank_ = options_.stage == 0 ? 0 : comm_->Rank();
}

ZeroEngine::~ZeroEngine() = default;  // the worker finishes a posted step first

absl::StatusOr<std::unique_ptr<ZeroEngine>> ZeroEngine::Create(std::vector<ParameterGroup> groups,
                                                               const ZeroEngineOptions& options,
                                                               std::shared_ptr<Communicator> comm) {
  ZT_RETURN_IF_ERROR(CheckZeroEngineOptions(options));
  if (comm == nullptr) return absl::InvalidArgumentError("zero engine: no communicator");
  if (groups.empty()) return absl::InvalidArgumentError("zero engine: no parameter groups");
  std::unique_ptr<ZeroEngine> engine(new ZeroEngine(options, std::move(comm)));
  std::vector<std::vector<int>> forward_positions;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].params.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("zero engine: parameter group ", g, " has no parameters"));
    }
    const std::vector<int>& positions = groups[g].forward_positions;
    if (!positions.empty() && positions.size() != groups[g].params.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "zero engine: parameter group ", g, " has ", groups[g].params.size(),
          " parameters but ", positions.size(), " forward_positions; expected one each or none"));
    }
    forward_positions.push_back(positions);
    auto group = std::make_unique<Group>();
    ZT_RETURN_IF_ERROR(engine->InitGroup(std::move(groups[g]), *group));
    engine->groups_.push_back(std::move(group));
  }
  std::vector<const FlatLayout*> layouts;
  for (const auto& group : engine->groups_) layouts.push_back(&group->buffer.layout());
  engine->update_order_ = UpdateOrder(layouts, forward_positions);
  engine->worker_ = std::make_unique<BucketUpdateWorker>(
      engine->update_order_.size(), options.collective_timeout,
      engine->groups_.front()->buffer.flat().device());
  return engine;
}

absl::Status ZeroEngine::InitGroup(ParameterGroup spec, Group& group) {
  const NamedParameter& first = spec.params.front();
  for (const NamedParameter& p : spec.params) {
    ZT_RETURN_IF_ERROR(CheckParameter(p, first));
    ZT_RETURN_IF_ERROR(CheckPrecision(options_.precision, p));
  }
  std::vector<int64_t> numels;
  for (NamedParameter& p : spec.params) {
    numels.push_back(p.tensor.numel());
    group.names.push_back(p.name);
    group.params.push_back(p.tensor);
  }
  group.weight_decay = spec.weight_decay.value_or(options_.optimizer.weight_decay);
  ZT_ASSIGN_OR_RETURN(
      FlatLayout layout,
      FlatLayout::Create(numels,
                         FlatLayoutOptions{partition_world_, options_.reduce_bucket_numel, 2}));
  const at::Tensor& t = first.tensor;
  group.buffer = FlatBuffer(std::move(layout), t.scalar_type(), t.device());
  ZT_RETURN_IF_ERROR(group.buffer.BindParameters(group.params, group.names));
  const FlatLayout& l = group.buffer.layout();
  // Every rank starts from rank 0's parameters (DeepSpeed broadcasts the module at init).
  if (comm_->Size() > 1) {
    ZT_ASSIGN_OR_RETURN(std::unique_ptr<Work> work, comm_->Broadcast(group.buffer.flat(), 0));
    ZT_RETURN_IF_ERROR(work->Wait(Deadline()));
  }
  group.accumulator = at::zeros({l.partition_numel()}, t.options().requires_grad(false));
  std::vector<at::Tensor> chunks;
  for (int b = 0; b < static_cast<int>(l.buckets().size()); ++b) {
    chunks.push_back(group.buffer.Chunk(b, chunk_rank_));
  }
  group.optimizer = std::make_unique<OptimizerPartition>(at::cat(chunks), options_.offload);
  if (options_.stage > 0) group.send = at::empty({l.partition_numel()}, t.options());
  GradientBucketerOptions bucketing;
  bucketing.reduction =
      options_.stage == 0 ? GradientReduction::kAllReduce : GradientReduction::kReduceScatter;
  bucketing.overlap_comm = options_.overlap_comm;
  bucketing.collective_timeout = options_.collective_timeout;
  bucketing.track_gradient_bytes = options_.track_gradient_bytes;
  group.staged.assign(l.buckets().size(), false);
  if (options_.offload.offload) {
    // Offload: each reduced chunk goes to the host while backward continues (docs/training.md).
    Group* g = &group;
    bucketing.on_reduced = [this, g](int bucket) {
      if (!boundary_backward_) return;
      const FlatLayout& layout = g->buffer.layout();
      g->optimizer->StageGradChunk(layout.buckets()[bucket].partition_offset,
                                   PartitionChunk(g->accumulator, layout, bucket),
                                   g->backward_times);
      g->staged[bucket] = true;
    };
  }
  group.bucketer =
      std::make_unique<GradientBucketer>(group.params, l, *comm_, group.accumulator, bucketing);
  return absl::OkStatus();
}

absl::Status ZeroEngine::Backward(const at::Tensor& loss, bool last_micro_batch) {
  ZT_RETURN_IF_ERROR(WaitForAllParameters());
  // Refused before any hook runs: a backward after the window's last one.
  if (window_.closed()) return window_.BeginBackward(last_micro_batch);
  BeginBackward(last_micro_batch);
  ScaleLoss(loss).backward();
  return FinishBackward();
}

void ZeroEngine::BeginBackward(bool last_micro_batch) {
  // The forward may not have waited for every bucket; the hooks must not race the worker.
  pending_backward_error_ = WaitForAllParameters();
  if (absl::Status order = window_.BeginBackward(last_micro_batch); !order.ok()) {
    pending_backward_error_ = order;
  }
  // Stage 2 reduces every micro-batch; stages 0 and 1 let param.grad accumulate until the
  // window's last backward.
  boundary_backward_ = last_micro_batch;
  const bool reduce = options_.stage == 2 || boundary_backward_;
  for (auto& group : groups_) group->bucketer->BeginBackward(reduce);
  in_backward_ = true;
}

absl::Status ZeroEngine::FinishBackward() {
  if (!in_backward_) return absl::FailedPreconditionError("FinishBackward without BeginBackward");
  in_backward_ = false;
  absl::Status first = std::move(pending_backward_error_);
  pending_backward_error_ = absl::OkStatus();
  for (auto& group : groups_) {
    absl::Status s = group->bucketer->FinishBackward();
    if (first.ok()) first = s;
  }
  return first;
}

absl::Time ZeroEngine::Deadline() const { return absl::Now() + options_.collective_timeout; }

absl::StatusOr<bool> ZeroEngine::Overflowed() {
  std::vector<at::Tensor> accumulators;
  for (auto& group : groups_) accumulators.push_back(group->accumulator);
  Communicator* comm = partition_world_ > 1 ? comm_.get() : nullptr;
  return GlobalOverflow(NonFiniteFlag(accumulators), comm, Deadline());
}

absl::StatusOr<double> ZeroEngine::ScaledGlobalNorm() {
  std::vector<at::Tensor> accumulators;
  for (auto& group : groups_) accumulators.push_back(group->accumulator);
  Communicator* comm = partition_world_ > 1 ? comm_.get() : nullptr;
  return GlobalNorm(SquaredNormFp64(accumulators), comm, Deadline());
}

absl::Status ZeroEngine::StepGroup(int g, double multiplier, const AdamWHyper& hyper,
                                   StepPhaseTimes& times) {
  Group& group = *groups_[g];
  const FlatLayout& layout = group.buffer.layout();
  std::vector<std::unique_ptr<Work>> gathers;
  // Forward order (buckets are laid out backward), so the first layers' parameters are
  // gathered while later chunks still step.
  for (int b = static_cast<int>(layout.buckets().size()) - 1; b >= 0; --b) {
    const int64_t offset = layout.buckets()[b].partition_offset;
    if (!group.staged[b]) {
      group.optimizer->StageGradChunk(offset, PartitionChunk(group.accumulator, layout, b), times);
    }
    at::Tensor out =
        options_.stage == 0 ? group.buffer.Chunk(b, 0) : PartitionChunk(group.send, layout, b);
    ZT_RETURN_IF_ERROR(group.optimizer->StepChunk(offset, multiplier, hyper, out, times));
    if (options_.stage == 0) continue;
    if (comm_->Size() == 1) {
      group.buffer.BucketRegion(b).copy_(out);
      continue;
    }
    ZT_ASSIGN_OR_RETURN(std::unique_ptr<Work> work,
                        comm_->AllGather(out, group.buffer.BucketRegion(b)));
    gathers.push_back(std::move(work));
  }
  for (auto& work : gathers) ZT_RETURN_IF_ERROR(work->Wait(Deadline()));
  for (int b = static_cast<int>(layout.buckets().size()) - 1; b >= 0; --b) {
    worker_->MarkUpdated(update_order_.IndexOf(g, b));
  }
  return absl::OkStatus();
}

absl::StatusOr<StepResult> ZeroEngine::Step() {
  if (in_backward_) return absl::FailedPreconditionError("Step() inside BeginBackward()");
  ZT_RETURN_IF_ERROR(WaitForAllParameters());
  ZT_RETURN_IF_ERROR(window_.CheckClosed());
  window_.End();
  StepResult result;
  result.phases = worker_->TakeTimes();  // the previous asynchronous step's
  at::NoGradGuard no_grad;
  bool overflow = false;
  if (control_.skips_non_finite()) {
    ZT_ASSIGN_OR_RETURN(overflow, Overflowed());
  }
  for (auto& group : groups_) {
    result.phases.grad_copy_s += group->backward_times.grad_copy_s;
    group->backward_times = StepPhaseTimes();
  }
  if (overflow) {
    ZT_RETURN_IF_ERROR(control_.Skip(result));
    ClearGradients();
    return result;
  }
  ZT_ASSIGN_OR_RETURN(const double scaled_norm, ScaledGlobalNorm());
  ZT_ASSIGN_OR_RETURN(const StepDecision decision, control_.Apply(scaled_norm, result));
  if (options_.async_offload_step) {
    PostAsynchronousStep(decision, result);
  } else {
    ZT_RETURN_IF_ERROR(StepSynchronously(decision, result));
  }
  return result;
}

absl::Status ZeroEngine::StepSynchronously(const StepDecision& decision, StepResult& result) {
  for (int g = 0; g < static_cast<int>(groups_.size()); ++g) {
    const AdamWHyper hyper = control_.Hyper(decision.step, groups_[g]->weight_decay);
    ZT_RETURN_IF_ERROR(StepGroup(g, decision.multiplier, hyper, result.phases));
  }
  ClearGradients();
  return absl::OkStatus();
}

void ZeroEngine::PostAsynchronousStep(const StepDecision& decision, StepResult& result) {
  std::vector<AdamWHyper> hypers;
  for (auto& group : groups_) {
    hypers.push_back(control_.Hyper(decision.step, group->weight_decay));
    // The gradient chunks backward did not stage yet, before the accumulator is reused.
    const FlatLayout& layout = group->buffer.layout();
    for (int b = 0; b < static_cast<int>(layout.buckets().size()); ++b) {
      if (group->staged[b]) continue;
      group->optimizer->StageGradChunk(layout.buckets()[b].partition_offset,
                                       PartitionChunk(group->accumulator, layout, b),
                                       result.phases);
    }
  }
  ClearGradients();
  worker_->Post([this, multiplier = decision.multiplier, hypers = std::move(hypers)](
                    int u, StepPhaseTimes& times, std::unique_ptr<Work>& gather) {
    return UpdateBucketChunk(u, multiplier, hypers[update_order_[u].group], times, gather);
  });
}

absl::Status ZeroEngine::UpdateBucketChunk(int update_bucket, double multiplier,
                                           const AdamWHyper& hyper, StepPhaseTimes& times,
                                           std::unique_ptr<Work>& gather) {
  const UpdateOrder::Bucket& u = update_order_[update_bucket];
  Group& group = *groups_[u.group];
  const FlatLayout& layout = group.buffer.layout();
  const int64_t offset = layout.buckets()[u.bucket].partition_offset;
  at::Tensor out = options_.stage == 0 ? group.buffer.Chunk(u.bucket, 0)
                                       : PartitionChunk(group.send, layout, u.bucket);
  ZT_RETURN_IF_ERROR(group.optimizer->StepChunk(offset, multiplier, hyper, out, times));
  if (options_.stage == 0) return absl::OkStatus();
  if (comm_->Size() == 1) {
    group.buffer.BucketRegion(u.bucket).copy_(out);
    return absl::OkStatus();
  }
  ZT_ASSIGN_OR_RETURN(gather, comm_->AllGather(out, group.buffer.BucketRegion(u.bucket)));
  return absl::OkStatus();
}

absl::StatusOr<int> ZeroEngine::UpdateBucketOf(absl::string_view param_name) const {
  for (int g = 0; g < static_cast<int>(groups_.size()); ++g) {
    const std::vector<std::string>& names = groups_[g]->names;
    auto it = std::find(names.begin(), names.end(), param_name);
    if (it == names.end()) continue;
    const int p = static_cast<int>(it - names.begin());
    return update_order_.IndexOf(g, groups_[g]->buffer.layout().slot(p).bucket);
  }
  return absl::NotFoundError(
      absl::StrCat("zero engine: no trainable parameter named '", param_name, "'"));
}

absl::Status ZeroEngine::WaitForParameters(int update_bucket) {
  return worker_->WaitFor(update_bucket);
}

absl::Status ZeroEngine::WaitForParameters(absl::string_view param_name) {
  ZT_ASSIGN_OR_RETURN(const int bucket, UpdateBucketOf(param_name));
  return WaitForParameters(bucket);
}

absl::Status ZeroEngine::WaitForAllParameters() { return worker_->WaitForAll(); }

int64_t ZeroEngine::BucketUpdates(int update_bucket) const {
  return worker_->Updates(update_bucket);
}

int64_t ZeroEngine::BucketUpdateSequence(int update_bucket) const {
  return worker_->Sequence(update_bucket);
}

int64_t ZeroEngine::AsyncSteps() const { return worker_->Steps(); }

void ZeroEngine::ClearGradients() {
  for (auto& group : groups_) {
    group->optimizer->FenceStagedCopies();  // copies to the host may still read the chunks
    group->accumulator.zero_();
    std::fill(group->staged.begin(), group->staged.end(), false);
  }
}

int64_t ZeroEngine::PeakGradientBytes() const {
  int64_t total = 0;
  for (const auto& group : groups_) total += group->bucketer->peak_gradient_bytes();
  return total;
}

void ZeroEngine::ResetPeakGradientBytes() {
  for (auto& group : groups_) group->bucketer->ResetPeak();
}

int64_t ZeroEngine::PartitionNumel() const {
  int64_t total = 0;
  for (const auto& group : groups_) total += group->buffer.layout().partition_numel();
  return total;
}

int64_t ZeroEngine::OptimizerStateBytes() const {
  int64_t total = 0;
  for (const auto& group : groups_) total += group->optimizer->bytes();
  return total;
}

int64_t ZeroEngine::GradientAccumulatorBytes() const {
  int64_t total = 0;
  for (const auto& group : groups_) total += group->accumulator.nbytes();
  return total;
}

int64_t ZeroEngine::ParameterBufferBytes() const {
  int64_t total = 0;
  for (const auto& group : groups_) total += group->buffer.flat().nbytes();
  return total;
}

int64_t ZeroEngine::UpdateBufferBytes() const {
  int64_t total = 0;
  for (const auto& group : groups_) total += group->send.defined() ? group->send.nbytes() : 0;
  return total;
}

std::string ZeroEngine::OptimizerName() const {
  return groups_.empty() ? "" : groups_.front()->optimizer->optimizer_name();
}

// ---- Checkpoint state: views into the partitions out, re-partitioned through the caller's
// fill callback in (the contract is in zero_engine.h).

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
