// Trainer's ZeRO glue: which engine a stage gets, the forward that uses it, the loss head, and
// the whole tensors a save needs (stage 3 gathers them first).
#include <ATen/ATen.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "sharding/zero3_optimizer.h"
#include "sharding/zero_engine.h"
#include "sharding/zero_engine_readiness.h"
#include "worker/model/decoder_partition.h"
#include "worker/train/model_output.h"
#include "worker/train/trainer.h"

namespace zt::worker::train {

absl::Status Trainer::BuildEngine() {
  if (job_.stage() != 3) {
    ZT_ASSIGN_OR_RETURN(std::unique_ptr<sharding::ZeroEngine> engine,
                        sharding::ZeroEngine::Create(model_.groups, job_.engine, comm_));
    zero_engine_ = engine.get();
    // The asynchronous offload step: the next forward waits per layer for its own parameters.
    if (job_.engine.async_offload_step) {
      readiness_ = sharding::ZeroEngineReadiness::Create(zero_engine_,
                                                         model_.decoder->ParameterUnits());
    }
    engine_ = std::move(engine);
    return absl::OkStatus();
  }
  // The engine groups hold references to the full trainable tensors; stage 3 replaces them.
  model_.groups.clear();
  ZT_ASSIGN_OR_RETURN(zero3_, model::PartitionDecoder(*model_.decoder, job_.zero3_params, comm_));
  ZT_ASSIGN_OR_RETURN(engine_, sharding::Zero3Optimizer::Create(zero3_.get(), job_.zero3_optimizer));
  return absl::OkStatus();
}

model::ForwardOptions Trainer::Forward(bool training) const {
  model::ForwardOptions forward;
  forward.training = training;
  forward.gradient_checkpointing = training && args_.gradient_checkpointing;
  forward.parameter_hook = zero3_.get();
  forward.parameter_readiness = readiness_.get();
  return forward;
}

absl::Status Trainer::WaitForUpdatedParameters() {
  return readiness_ != nullptr ? zero_engine_->WaitForAllParameters() : absl::OkStatus();
}

std::string Trainer::OffloadDescription() const {
  const bool optimizer = engine_->offloads_optimizer();
  const bool parameters = zero3_ != nullptr && job_.zero3_params.offload_param;
  if (optimizer && parameters) return " with CPU offload and parameter offload";
  if (optimizer) return " with CPU offload";
  if (parameters) return " with parameter offload";
  return "";
}

at::Tensor Trainer::BatchLoss(const Batch& batch, const model::ForwardOptions& forward) const {
  const at::Tensor hidden = model_.decoder->Hidden(batch.input_ids, batch.attention_mask, forward);
  return model_.decoder->ApplyHead(
      hidden, forward, [&batch](const at::Tensor& h, const at::Tensor& lm_head) {
        return SummedCausalLmLossOnTargets(h, lm_head, batch.labels);
      });
}

absl::Status Trainer::WithFullTensors(bool trainable_only,
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

absl::Status Trainer::WriteFinalModel(int64_t step, bool checkpointed) {
  const bool leader = comm_->Rank() == 0;
  auto write = [&]() -> absl::Status {
    return leader ? WriteTrainedModel(args_.output_dir, model_, args_) : absl::OkStatus();
  };
  if (zero3_ == nullptr || model_.use_lora) return WithFullTensors(/*trainable_only=*/true, write);
  if (job_.ds.zero.gather_16bit_weights_on_model_save) {
    return WithFullTensors(/*trainable_only=*/false, write);
  }
  // DeepSpeed's save_16bit_model saves nothing here; the HF Trainer then saves the ZeRO
  // checkpoint instead. The same: the final checkpoint holds every parameter's fp32 master.
  if (!checkpointed) ZT_RETURN_IF_ERROR(SaveCheckpoint(step));
  Log(absl::StrCat(
      "ZeRO stage 3: did not write the full model to ", args_.output_dir,
      " because zero_optimization.stage3_gather_16bit_weights_on_model_save is false; its "
      "weights are in ", args_.output_dir, "/checkpoint-", step,
      " (zerotune-worker export --checkpoint ", args_.output_dir, "/checkpoint-", step,
      " --out DIR writes the HF folder), or set the key to true"));
  return absl::OkStatus();
}

}  // namespace zt::worker::train
