#include "sharding/zero_engine.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "sharding/grad_norm.h"
#include "sharding/parameter_groups.h"
#include "sharding/zero_engine_group.h"

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

absl::Status CheckOptions(const ZeroEngineOptions& o) {
  if (o.stage < 0 || o.stage > 2) {
    return absl::InvalidArgumentError(absl::StrCat("zero_optimization.stage is ", o.stage,
                                                   "; this engine runs stages 0, 1 and 2"));
  }
  if (o.reduce_bucket_numel < 1) {
    return absl::InvalidArgumentError(absl::StrCat("zero_optimization.reduce_bucket_size is ",
                                                   o.reduce_bucket_numel, "; expected >= 1"));
  }
  if (o.async_offload_step && !o.offload.offload) {
    return absl::InvalidArgumentError(
        "zero engine: async_offload_step needs zero_optimization.offload_optimizer.device "
        "\"cpu\" (it overlaps the CPU optimizer step with the next forward)");
  }
  if (o.gradient_clipping < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("gradient_clipping is ", o.gradient_clipping, "; expected >= 0 (0 disables)"));
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

LossScalerOptions LossScalerOptionsFromDsConfig(const configs::DsConfig& c) {
  LossScalerOptions o;
  o.static_scale = c.fp16.loss_scale;
  o.initial_scale_power = static_cast<int>(c.fp16.initial_scale_power);
  o.loss_scale_window = c.fp16.loss_scale_window;
  o.hysteresis = static_cast<int>(c.fp16.hysteresis);
  o.consecutive_hysteresis = c.fp16.consecutive_hysteresis;
  o.min_loss_scale = static_cast<double>(c.fp16.min_loss_scale);
  return o;
}

absl::StatusOr<ZeroEngineOptions> ZeroEngineOptionsFromDsConfig(const configs::DsConfig& c) {
  ZeroEngineOptions o;
  o.stage = c.zero.stage;
  o.reduce_bucket_numel = c.zero.reduce_bucket_numel;
  o.overlap_comm = c.zero.overlap_comm;
  o.offload.offload = c.zero.offload_optimizer.device == configs::OffloadDevice::kCpu;
  o.offload.pin_memory = c.zero.offload_optimizer.pin_memory;
  // overlap_comm with the optimizer on the CPU: the CPU step overlaps the next forward.
  o.async_offload_step = o.offload.offload && o.overlap_comm;
  o.gradient_clipping = c.gradient_clipping;
  o.optimizer = c.optimizer;
  if (c.fp16.enabled) {
    o.precision = Precision::kFp16;
    o.loss_scaler = LossScalerOptionsFromDsConfig(c);
  } else if (c.bf16.enabled) {
    o.precision = Precision::kBf16;
    o.check_grad_overflow = c.bf16.check_grad_overflow;
  }
  if (o.optimizer.type != "Adam" && o.optimizer.type != "AdamW") {
    return absl::InvalidArgumentError(absl::StrCat("optimizer.type is \"", o.optimizer.type,
                                                   "\"; the ZeRO engine runs Adam and AdamW"));
  }
  ZT_RETURN_IF_ERROR(CheckOptions(o));
  return o;
}

ZeroEngine::ZeroEngine(ZeroEngineOptions options, std::shared_ptr<Communicator> comm)
    : options_(std::move(options)), comm_(std::move(comm)),
      control_(StepControlOptionsFor(options_)) {
  partition_world_ = options_.stage == 0 ? 1 : comm_->Size();
  chunk_rank_ = options_.stage == 0 ? 0 : comm_->Rank();
}

ZeroEngine::~ZeroEngine() { StopAsyncWorker(); }

absl::StatusOr<std::unique_ptr<ZeroEngine>> ZeroEngine::Create(std::vector<ParameterGroup> groups,
                                                               const ZeroEngineOptions& options,
                                                               std::shared_ptr<Communicator> comm) {
  ZT_RETURN_IF_ERROR(CheckOptions(options));
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
  engine->BuildUpdateOrder(forward_positions);
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
    MarkBucketUpdated(update_index_[g][b]);
  }
  return absl::OkStatus();
}

absl::StatusOr<StepResult> ZeroEngine::Step() {
  if (in_backward_) return absl::FailedPreconditionError("Step() inside BeginBackward()");
  ZT_RETURN_IF_ERROR(WaitForAllParameters());
  ZT_RETURN_IF_ERROR(window_.CheckClosed());
  window_.End();
  StepResult result;
  {
    absl::MutexLock lock(&async_mu_);
    result.phases = async_times_;  // the previous asynchronous step's worker
    async_times_ = StepPhaseTimes();
  }
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
    StartAsyncUpdates(decision.multiplier, std::move(hypers));
    return result;
  }
  for (int g = 0; g < static_cast<int>(groups_.size()); ++g) {
    const AdamWHyper hyper = control_.Hyper(decision.step, groups_[g]->weight_decay);
    ZT_RETURN_IF_ERROR(StepGroup(g, decision.multiplier, hyper, result.phases));
  }
  ClearGradients();
  return result;
}

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

}  // namespace zt::sharding
