#include "worker/train/rank_engine.h"

#include <ATen/ATen.h>

#include <map>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "sharding/zero/zero3_optimizer.h"
#include "sharding/zero/zero_engine_readiness.h"
#include "worker/model/decoder_partition.h"

namespace zt::worker::train {

RankEngine::RankEngine(TrainableModel& model, std::shared_ptr<sharding::Communicator> comm,
                       bool offload_param)
    : model_(model), comm_(std::move(comm)), offload_param_(offload_param) {}

absl::StatusOr<std::unique_ptr<RankEngine>> RankEngine::Create(
    TrainableModel& model, const JobConfig& job, std::shared_ptr<sharding::Communicator> comm) {
  std::unique_ptr<RankEngine> r(new RankEngine(model, comm, job.zero3_params.offload_param));
  if (job.stage() != 3) {
    ZT_ASSIGN_OR_RETURN(std::unique_ptr<sharding::ZeroEngine> engine,
                        sharding::ZeroEngine::Create(model.groups, job.engine, comm));
    r->zero_engine_ = engine.get();
    // The asynchronous offload step: the next forward waits per layer for its own parameters.
    if (job.engine.async_offload_step) {
      r->readiness_ = sharding::ZeroEngineReadiness::Create(r->zero_engine_,
                                                            model.decoder->ParameterUnits());
    }
    r->engine_ = std::move(engine);
    return r;
  }
  // The engine groups hold references to the full trainable tensors; stage 3 replaces them.
  model.groups.clear();
  ZT_ASSIGN_OR_RETURN(r->zero3_, model::PartitionDecoder(*model.decoder, job.zero3_params, comm));
  ZT_ASSIGN_OR_RETURN(r->engine_,
                      sharding::Zero3Optimizer::Create(r->zero3_.get(), job.zero3_optimizer));
  return r;
}

model::ForwardOptions RankEngine::Forward(bool training, bool gradient_checkpointing) const {
  model::ForwardOptions forward;
  forward.training = training;
  forward.gradient_checkpointing = training && gradient_checkpointing;
  forward.parameter_hook = zero3_.get();
  forward.parameter_readiness = readiness_.get();
  return forward;
}

absl::Status RankEngine::WaitForUpdatedParameters() {
  return readiness_ != nullptr ? zero_engine_->WaitForAllParameters() : absl::OkStatus();
}

std::string RankEngine::OffloadDescription() const {
  const bool optimizer = engine_->offloads_optimizer();
  const bool parameters = zero3_ != nullptr && offload_param_;
  if (optimizer && parameters) return " with CPU offload and parameter offload";
  if (optimizer) return " with CPU offload";
  if (parameters) return " with parameter offload";
  return "";
}

absl::Status RankEngine::WithFullTensors(bool trainable_only,
                                         const std::function<absl::Status()>& use) {
  if (zero3_ == nullptr) {
    ZT_RETURN_IF_ERROR(WaitForUpdatedParameters());
    return use();
  }
  std::map<std::string, at::Tensor*> slots;
  for (auto& [name, slot] : model_.decoder->TensorSlots()) slots[name] = slot;
  // The adapter goes to every rank (node leaders write it too); the whole model only to rank 0
  // (the others hold one tensor at a time), as DeepSpeed's save_16bit_model gathers it.
  const bool keep = trainable_only || comm_->Rank() == 0;
  std::vector<std::pair<at::Tensor*, at::Tensor>> placeholders;
  auto restore = [&placeholders]() {
    for (auto& [slot, placeholder] : placeholders) *slot = placeholder;
  };
  for (int id = 0; id < zero3_->num_params(); ++id) {
    const sharding::Zero3Parameter& p = zero3_->param(id);
    if (trainable_only && !p.trainable) continue;
    absl::StatusOr<at::Tensor> full = zero3_->GatherFull(id);
    if (!full.ok()) {
      restore();
      return full.status();
    }
    if (!keep) continue;
    for (const std::string& name : p.names) {
      at::Tensor* slot = slots.at(name);
      placeholders.emplace_back(slot, *slot);
      *slot = *full;
    }
  }
  const absl::Status status = use();
  restore();
  return status;
}

}  // namespace zt::worker::train
