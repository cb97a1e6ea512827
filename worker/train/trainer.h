// The training loop of one rank (worker/train): micro-batches, gradient accumulation, the ZeRO
// step, metrics, evaluation, early stopping, checkpoints, and the final adapter or model.
//
// Every rank runs the same loop in the same order (the engine's and the communicator's
// contract). The trainer owns the accumulation window (sharding/zero/training_engine.h). Per
// optimizer step:
//   1. the step's micro-batches come from the TrainingPlan (a pure function of the step, so
//      resumes continue with the same samples; the resolved ds_config's
//      gradient_accumulation_steps per step, fewer in a short last window of an epoch);
//   2. each micro-batch's summed token loss is normalised in one place (loss_normalization.h;
//      with --loss_normalization token (HF) over the step's target tokens on all ranks);
//   3. engine Backward per micro-batch, flagging the window's last; then the next step's
//      batches are collated and copied, and one all-reduce carries the trainer's own sums (the
//      logging window's, the coordinator's stop, the next step's target tokens); then Step:
//      always an optimizer step, or a counted skip on overflow (stages 0-2:
//      sharding/zero/zero_engine.h, whose offload step with overlap_comm runs on after Step()
//      returned, so the trainer issues no collective between Step() and the next backward
//      without waiting for it; stage 3: the decoder runs with sharding/zero/zero3_parameters.h as
//      its parameter hook and sharding/zero/zero3_optimizer.h steps; rank_engine.h);
//   4. every logging_steps: HF's logged loss (the normalised losses summed per step, averaged
//      over ranks and the window's steps), the learning rate the step used, the grad norm before
//      clipping, loss scale, tokens/s and peak memory go to the coordinator (rank 0; the
//      coordinator writes metrics.jsonl/csv and trainer_state.json);
//   5. every eval_steps with --eval_data_path: HF's eval loss (per eval step the loss per
//      target token over all ranks' batches, weighted by the step's samples; each rank a
//      disjoint shard) and perplexity, early stopping on eval loss;
//   6. rank 0 redraws output_dir/loss_curve.svg and, with --report_to tensorboard, appends the
//      record to TensorBoard event files under output_dir/runs/ (HF's tags: train/loss, ...;
//      training_reports.h);
//   7. every save_steps, and at the coordinator's stop step (preemption): a partitioned
//      checkpoint (checkpointer.h) with the PEFT adapter and trainer_state.json; at start the
//      run resumes from --resume_from_checkpoint (auto: the newest complete one in output_dir),
//      continuing bitwise: engine state, step, log history, early-stopping state, RNG.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "configs/training_arguments.h"
#include "nlohmann/json.hpp"
#include "sharding/collectives/communicator.h"
#include "sharding/collectives/store.h"
#include "sharding/zero/training_engine.h"
#include "worker/train/checkpointer.h"
#include "worker/train/job_config.h"
#include "worker/train/loss_normalization.h"
#include "worker/train/rank_engine.h"
#include "worker/train/trainable_model.h"
#include "worker/train/training_data.h"
#include "worker/train/training_plan.h"
#include "worker/train/training_reports.h"

namespace zt::worker::train {

// Where a rank's reports go: the coordinator under `zerotune launch` / mpirun / srun (rank 0
// reports metrics), or nowhere in tests.
class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  virtual void OnStep(int64_t /*step*/) {}
  virtual absl::Status OnMetrics(int64_t /*step*/, int64_t /*max_steps*/, double /*epoch*/,
                                 const std::map<std::string, double>& /*values*/) {
    return absl::OkStatus();
  }
  // A step at which every rank must checkpoint and stop (preemption), if one was decided.
  virtual std::optional<int64_t> StopStep() const { return std::nullopt; }
  virtual void Log(const std::string& /*line*/) const {}
};

struct TrainResult {
  int64_t steps = 0;                  // optimizer steps taken (incl. before a resume)
  bool stopped_early = false;         // early stopping
  bool preempted = false;             // stopped at the coordinator's stop step
  double last_loss = 0.0;             // the last logging window's loss
  std::optional<double> eval_loss;    // the last evaluation's
  std::vector<std::pair<int64_t, double>> loss_history;  // (step, loss) per logging window
  std::optional<std::string> resumed_from;               // the checkpoint the run continued
};

// Where the rank sits in the job, besides its communicator.
struct TrainerPlacement {
  std::shared_ptr<sharding::Store> store;  // the job's store (checkpoint synchronisation)
  int node = 0;                            // node index: ranks of a node share a disk
  // Where the model, its batches and the trainer's own collectives live (training_device.h);
  // the communicator must take tensors there.
  at::Device device = at::kCPU;
};

class Trainer {
 public:
  // Loads data and model, resolves the ds_config and builds the engine. `comm` spans the
  // data-parallel ranks (tensors on placement.device). `observer` may be null and must outlive
  // the trainer.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(
      configs::TrainingArguments args, std::shared_ptr<sharding::Communicator> comm,
      TrainerPlacement placement, TrainingObserver* observer);
  ~Trainer();

  absl::StatusOr<TrainResult> Train();
  // HF's eval_loss over the whole eval set: per eval step (one batch per rank) the summed token
  // loss over the target tokens of all ranks, weighted by the step's samples (collective).
  absl::StatusOr<double> Evaluate();

  TrainableModel& model() { return model_; }
  const TrainingPlan& plan() const { return *plan_; }
  sharding::TrainingEngine& engine() { return rank_engine_->engine(); }

 private:
  Trainer(configs::TrainingArguments args, std::shared_ptr<sharding::Communicator> comm,
          TrainingObserver* observer);

  struct StepTotals {
    double loss = 0;     // the normalised micro-batch losses (this rank), HF's tr_loss
    double tokens = 0;   // input tokens (this rank)
    int64_t steps = 0;   // optimizer steps in the logging window
  };
  // A step's micro-batches, collated and copied to the device, with their loss normalisation
  // (the step's target tokens on all ranks set by the caller's all-reduce).
  struct PreparedStep {
    std::vector<Batch> batches;
    LossNormalization norm;
    double local_targets = 0;  // this rank's target tokens
    void SetGlobalTargets(double targets) {
      if (norm.per_token) norm.global_targets = targets;
    }
  };
  PreparedStep PrepareStep(int64_t step) const;
  // Forward and backward of every micro-batch (the window's last flagged), adding to `totals`.
  absl::Status RunMicroBatches(const PreparedStep& prepared, StepTotals& totals);
  model::ForwardOptions Forward(bool training) const {
    return rank_engine_->Forward(training, args_.gradient_checkpointing);
  }
  absl::Status WaitForUpdatedParameters() { return rank_engine_->WaitForUpdatedParameters(); }
  // Summed token loss of `batch` (its logits computed only where labels are trained).
  at::Tensor BatchLoss(const Batch& batch, const model::ForwardOptions& forward) const;
  // The adapter (LoRA) or the HF model folder (full fine-tuning) into output_dir, rank 0
  // writing; at stage 3 a full model needs stage3_gather_16bit_weights_on_model_save, else the
  // final checkpoint stands for it (as DeepSpeed's save_16bit_model).
  absl::Status WriteFinalModel(int64_t step, bool checkpointed);
  absl::StatusOr<std::vector<double>> AllReduceSum(std::vector<double> values);
  // The samples `indices` as a batch on device_ (collated in pinned memory for a CUDA device).
  Batch DeviceBatch(const std::vector<data::TokenizedSample>& samples,
                    const std::vector<int64_t>& indices) const;
  void Log(const std::string& line) const;
  // Resume at start, save at a step: the engine (checkpointer.h) and the loop's own state.
  absl::Status Resume(TrainResult& result);
  absl::Status SaveCheckpoint(int64_t step);
  nlohmann::json TrainerStateJson(int64_t step) const;
  // The record to the observer and the reports (rank 0).
  absl::Status Report(int64_t step, const std::map<std::string, double>& values);

  configs::TrainingArguments args_;
  std::shared_ptr<sharding::Communicator> comm_;
  at::Device device_ = at::kCPU;
  TrainingObserver* observer_;
  TrainingObserver no_observer_;
  TrainingData data_;
  TrainableModel model_;
  std::optional<TrainingPlan> plan_;
  JobConfig job_;
  std::unique_ptr<RankEngine> rank_engine_;  // uses model_
  std::unique_ptr<Checkpointer> checkpointer_;
  std::unique_ptr<TrainingReports> reports_;
  // What a checkpoint carries besides the engine: the loop's own state.
  int64_t completed_steps_ = 0;
  nlohmann::json log_history_ = nlohmann::json::array();  // HF trainer_state.json entries
  std::optional<double> best_eval_;
  int64_t evals_without_improvement_ = 0;
};

}  // namespace zt::worker::train
