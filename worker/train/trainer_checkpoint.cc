// Trainer's checkpoint glue: what the loop stores besides the engine (checkpointer.h stores the
// engine), and restoring it.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/model/lora_model.h"
#include "worker/train/trainer.h"

namespace zt::worker::train {
namespace {

// The default CPU generator (LoRA dropout) as a byte list, and back.
nlohmann::json CpuRngState() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  const at::Tensor state = gen.get_state();
  const uint8_t* p = state.data_ptr<uint8_t>();
  return std::vector<uint8_t>(p, p + state.numel());
}

absl::Status SetCpuRngState(const nlohmann::json& bytes) {
  if (!bytes.is_array()) return absl::DataLossError("rank_state.cpu_rng is not a byte list");
  const std::vector<uint8_t> values = bytes.get<std::vector<uint8_t>>();
  at::Tensor state = at::empty({static_cast<int64_t>(values.size())}, at::kByte);
  std::copy(values.begin(), values.end(), state.data_ptr<uint8_t>());
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
  return absl::OkStatus();
}

}  // namespace

nlohmann::json Trainer::TrainerStateJson(int64_t step) const {
  // HF Trainer's trainer_state.json fields that tools read.
  nlohmann::json state = {
      {"global_step", step},
      {"max_steps", plan_->total_steps()},
      {"epoch", plan_->EpochAt(step)},
      {"num_train_epochs", args_.num_train_epochs},
      {"logging_steps", args_.logging_steps},
      {"eval_steps", args_.eval_steps > 0 ? args_.eval_steps : args_.logging_steps},
      {"save_steps", args_.save_steps},
      {"train_batch_size", args_.per_device_train_batch_size},
      {"is_local_process_zero", comm_->Rank() == 0},
      {"is_world_process_zero", comm_->Rank() == 0},
      {"log_history", log_history_},
  };
  state["best_metric"] = best_eval_ ? nlohmann::json(*best_eval_) : nlohmann::json(nullptr);
  return state;
}

absl::Status Trainer::SaveCheckpoint(int64_t step) {
  SaveRequest request;
  request.step = step;
  request.trainer_state = TrainerStateJson(step);
  request.client_state = {
      {"global_step", step},
      {"global_sample_index", plan_->GlobalSampleIndex(step + 1)},
      {"evals_without_improvement", evals_without_improvement_},
  };
  request.rank_state = {{"cpu_rng", CpuRngState()}};
  std::string dir;
  auto save = [&]() -> absl::Status {
    if (model_.use_lora) {
      request.adapter_config =
          model::PeftConfigFor(*model_.decoder, model_.lora, args_.model_name_or_path);
      request.adapter_tensors = model::LoraStateDict(*model_.decoder);
    }
    ZT_ASSIGN_OR_RETURN(dir, checkpointer_->Save(*engine_, request));
    return absl::OkStatus();
  };
  // The adapter is gathered whole (stage 3); full fine-tuning's checkpoint is the zero/ state.
  ZT_RETURN_IF_ERROR(WaitForUpdatedParameters());
  ZT_RETURN_IF_ERROR(model_.use_lora ? WithFullTensors(/*trainable_only=*/true, save) : save());
  Log(absl::StrCat("saved ", dir));
  return absl::OkStatus();
}

absl::Status Trainer::Resume(TrainResult& result) {
  const std::string arg =
      args_.resume_from_checkpoint == "none" ? "" : args_.resume_from_checkpoint;
  std::vector<std::string> notes;
  ZT_ASSIGN_OR_RETURN(std::optional<std::string> from, checkpointer_->ResolveResume(arg, &notes));
  for (const std::string& note : notes) Log(note);
  if (!from) return absl::OkStatus();
  ZT_ASSIGN_OR_RETURN(LoadedCheckpoint loaded, checkpointer_->Load(*engine_, *from));
  const nlohmann::json& client = loaded.client_state;
  if (!client.contains("global_step") || !client["global_step"].is_number_integer()) {
    return absl::DataLossError(absl::StrCat(*from, ": client state has no global_step"));
  }
  completed_steps_ = client["global_step"].get<int64_t>();
  evals_without_improvement_ = client.value("evals_without_improvement", int64_t{0});
  if (loaded.trainer_state.contains("log_history")) {
    log_history_ = loaded.trainer_state["log_history"];
  }
  const nlohmann::json& best = loaded.trainer_state.value("best_metric", nlohmann::json());
  if (best.is_number()) best_eval_ = best.get<double>();
  if (loaded.same_world_size && loaded.rank_state.contains("cpu_rng")) {
    ZT_RETURN_IF_ERROR(SetCpuRngState(loaded.rank_state["cpu_rng"]));
  }
  result.resumed_from = *from;
  result.steps = completed_steps_;
  Log(absl::StrCat("resumed from ", *from, " at step ", completed_steps_, " of ",
                   plan_->total_steps()));
  return absl::OkStatus();
}

}  // namespace zt::worker::train
