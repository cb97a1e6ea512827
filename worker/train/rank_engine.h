// This rank's ZeRO engine as the trainer drives it (trainer.h): at stages 0-2 a
// sharding::ZeroEngine over the model's parameter groups (with the asynchronous offload step, the
// forward waits per model unit for its own parameters: sharding/zero/zero_engine_readiness.h); at
// stage 3 the decoder's tensors partitioned (sharding::Zero3Parameters, the forward's parameter
// hook) and stepped by sharding::Zero3Optimizer. Besides the engine: the forward options that use
// it, and the whole tensors a save needs (stage 3 gathers them one by one). Not thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "sharding/collectives/communicator.h"
#include "sharding/zero/parameter_hook.h"
#include "sharding/zero/training_engine.h"
#include "sharding/zero/zero3_parameters.h"
#include "sharding/zero/zero_engine.h"
#include "worker/model/decoder.h"
#include "worker/train/job_config.h"
#include "worker/train/trainable_model.h"

namespace zt::worker::train {

class RankEngine {
 public:
  // The engine `job` asks for over `model` (which must outlive it). Stage 3 replaces
  // model.groups by the partitions (collective: every rank cuts its pieces).
  static absl::StatusOr<std::unique_ptr<RankEngine>> Create(
      TrainableModel& model, const JobConfig& job, std::shared_ptr<sharding::Communicator> comm);

  sharding::TrainingEngine& engine() { return *engine_; }
  const sharding::TrainingEngine& engine() const { return *engine_; }
  // Stage 3: the parameters live in partitions, gathered per unit.
  bool partitions_parameters() const { return zero3_ != nullptr; }

  model::ForwardOptions Forward(bool training, bool gradient_checkpointing) const;
  // With the asynchronous offload step: blocks until the last Step()'s updates all landed
  // (before anything reads the trainable tensors outside a forward: saves, the final model).
  absl::Status WaitForUpdatedParameters();
  // " with CPU offload", " with CPU offload and parameter offload", ... or "".
  std::string OffloadDescription() const;
  // The trainable tensors (every rank) or all of them (rank 0) put back whole into the model
  // while `use` runs; at stage 3 they are gathered one by one (collective: every rank calls it).
  absl::Status WithFullTensors(bool trainable_only, const std::function<absl::Status()>& use);

 private:
  RankEngine(TrainableModel& model, std::shared_ptr<sharding::Communicator> comm,
             bool offload_param);

  TrainableModel& model_;
  std::shared_ptr<sharding::Communicator> comm_;
  bool offload_param_;
  std::unique_ptr<sharding::Zero3Parameters> zero3_;  // stage 3; outlives engine_
  std::unique_ptr<sharding::TrainingEngine> engine_;
  sharding::ZeroEngine* zero_engine_ = nullptr;  // engine_ at stages 0-2
  // Stages 1-2 with the asynchronous offload step: what the forward waits on per layer.
  std::unique_ptr<sharding::ParameterReadiness> readiness_;
};

}  // namespace zt::worker::train
