#include "worker/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "configs/model_config.h"
#include "worker/data/loss_mask.h"
#include "worker/model/lora_model.h"
#include "worker/train/loss_normalization.h"
#include "worker/train/model_output.h"

namespace zt::worker::train {
namespace {

constexpr absl::Duration kCollectiveTimeout = absl::Minutes(5);

// Peak resident set of this process (VmHWM), MiB; 0 where /proc is missing.
double PeakRssMib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      double kib = 0;
      fields >> kib;
      return kib / 1024.0;
    }
  }
  return 0;
}

// Why samples have no target token: cut by --model_max_length before their first trained
// token, or none trained at all (roles the template does not train, system-only, --loss_mask).
struct UntrainedCounts {
  int64_t cut = 0;
  int64_t untrained = 0;
};

UntrainedCounts CountUntrained(const std::vector<data::TokenizedSample>& samples) {
  UntrainedCounts counts;
  for (const data::TokenizedSample& s : samples) {
    // The loss counts labels[1:]: position t predicts labels[t + 1].
    const bool trained = std::any_of(s.labels.begin() + std::min<size_t>(1, s.labels.size()),
                                     s.labels.end(), [](int32_t l) { return l != data::kIgnoreIndex; });
    if (trained) continue;
    ++(s.truncated ? counts.cut : counts.untrained);
  }
  return counts;
}

// A job that would train on nothing is refused, naming the file and why.
absl::Status CheckSomethingTrains(const configs::TrainingArguments& args,
                                  const std::vector<data::TokenizedSample>& samples) {
  const UntrainedCounts counts = CountUntrained(samples);
  if (counts.cut + counts.untrained < static_cast<int64_t>(samples.size())) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--data_path ", args.data_path, ": none of its ", samples.size(),
      " samples has a trained token (", counts.cut, " cut by --model_max_length ",
      args.model_max_length, " before their first trained token, ", counts.untrained,
      " with no trained token at all: check the roles (\"messages\" records use user/assistant; "
      "human/gpt belong in \"conversations\" records with from/value), --loss_mask and "
      "--template)"));
}

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

Trainer::Trainer(configs::TrainingArguments args, std::shared_ptr<sharding::Communicator> comm,
                 TrainingObserver* observer)
    : args_(std::move(args)), comm_(std::move(comm)),
      observer_(observer != nullptr ? observer : &no_observer_) {}

Trainer::~Trainer() = default;

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(
    configs::TrainingArguments args, std::shared_ptr<sharding::Communicator> comm,
    TrainerPlacement placement, TrainingObserver* observer) {
  if (args.optim != "adamw_torch" && args.optim != "adamw_torch_fused" &&
      args.optim != "adamw_hf" && args.optim != "paged_adamw_32bit") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--optim ", args.optim, ": not available in this build (adamw_torch, adamw_torch_fused "
        "and adamw_hf run the same AdamW; paged_adamw_32bit runs it with the optimizer state "
        "offloaded to the host; 8-bit optimizers are not implemented)"));
  }
  for (absl::string_view sink : absl::StrSplit(args.report_to, ',', absl::SkipWhitespace())) {
    if (sink != "none" && sink != "all" && sink != "tensorboard") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--report_to ", args.report_to, ": \"", sink,
          "\" is not available; expected none, tensorboard or all (metrics.jsonl, metrics.csv "
          "and trainer_state.json are always written)"));
    }
  }
  {
    // Every flag checked before anything loads (a zero accumulation would divide by zero).
    configs::Diagnostics diag;
    configs::ValidateTrainingArguments(args, diag);
    if (diag.has_errors()) return diag.ToStatus("training arguments");
  }
  std::unique_ptr<Trainer> t(new Trainer(std::move(args), std::move(comm), observer));
  const configs::TrainingArguments& a = t->args_;
  // transformers' set_seed: the same seed on every rank (LoRA dropout draws from it).
  at::manual_seed(static_cast<uint64_t>(a.seed));
  ZT_RETURN_IF_ERROR(CheckModelFolder(a));
  ZT_ASSIGN_OR_RETURN(t->data_, LoadTrainingData(a, a.model_name_or_path));
  ZT_RETURN_IF_ERROR(CheckSomethingTrains(a, t->data_.train));
  ZT_ASSIGN_OR_RETURN(const configs::ModelConfig model_config,
                      configs::LoadModelConfig(a.model_name_or_path));
  // The accumulation has one source, the resolved ds_config; the schedule then needs the plan.
  const int64_t accumulation =
      JobGradientAccumulation(a, t->comm_->Size(), model_config.hidden_size);
  ZT_ASSIGN_OR_RETURN(TrainingPlan plan,
                      TrainingPlan::Create(a, accumulation,
                                           static_cast<int64_t>(t->data_.train.size()), {},
                                           t->comm_->Size(), t->comm_->Rank()));
  t->plan_.emplace(std::move(plan));
  ZT_ASSIGN_OR_RETURN(t->job_, ResolveJobConfig(a, t->comm_->Size(), model_config.hidden_size,
                                                t->plan_->total_steps()));
  if (t->job_.ds.gradient_accumulation_steps != accumulation) {
    return absl::InternalError(absl::StrCat(
        "gradient_accumulation_steps resolved to ", t->job_.ds.gradient_accumulation_steps,
        " for the engine but ", accumulation, " for the step plan"));
  }
  // Stage 3 partitions the base as its files hold it and casts each rank's pieces. A QLoRA
  // model loads as at stages 0-2 (the 4-bit base, the rest in its unquantized dtype, LoRA in
  // fp32) and is partitioned as loaded: stage 3 runs the same math as stage 2.
  const bool stage3 = t->job_.stage() == 3;
  const bool cast_pieces = stage3 && !a.q_lora;
  // bitsandbytes' paged AdamW pages its state out of device memory: AdamW with the optimizer
  // state offloaded to the host (ZeRO's offload_optimizer) is the counterpart.
  if (a.optim == "paged_adamw_32bit") {
    t->job_.engine.offload.offload = true;
    t->job_.engine.async_offload_step = t->job_.engine.overlap_comm;
    t->job_.zero3_optimizer.offload.offload = true;
  }
  t->device_ = placement.device;
  // At stage 3 the model stays on the host and each rank's pieces are cut onto the device.
  ZT_ASSIGN_OR_RETURN(t->model_, LoadTrainableModel(a, /*keep_file_dtype=*/cast_pieces,
                                                    stage3 ? at::Device(at::kCPU) : t->device_));
  if (cast_pieces) t->job_.zero3_params.floating_dtype = ComputeDtype(a);
  if (stage3) t->job_.zero3_params.device = t->device_;
  ZT_ASSIGN_OR_RETURN(t->rank_engine_, RankEngine::Create(t->model_, t->job_, t->comm_));
  CheckpointerOptions checkpoints;
  checkpoints.output_dir = a.output_dir;
  checkpoints.rank = t->comm_->Rank();
  checkpoints.world_size = t->comm_->Size();
  checkpoints.node = placement.node;
  checkpoints.save_on_each_node = a.save_on_each_node;
  checkpoints.save_total_limit = a.save_total_limit;
  checkpoints.base_model_dir = a.model_name_or_path;
  t->checkpointer_ = std::make_unique<Checkpointer>(checkpoints, std::move(placement.store));
  t->reports_ = std::make_unique<TrainingReports>(t->comm_->Rank() == 0, a.output_dir, a.report_to,
                                                  absl::StrCat("loss, ", a.model_name_or_path));
  return t;
}

void Trainer::Log(const std::string& line) const {
  if (comm_->Rank() == 0) observer_->Log(line);
}

absl::StatusOr<std::vector<double>> Trainer::AllReduceSum(std::vector<double> values) {
  // Never beside the asynchronous offload step's all-gathers (one order on every rank).
  ZT_RETURN_IF_ERROR(WaitForUpdatedParameters());
  // On the communicator's device: NCCL takes CUDA tensors only.
  at::Tensor t = at::tensor(values, at::kDouble).to(device_);
  ZT_ASSIGN_OR_RETURN(std::unique_ptr<sharding::Work> work,
                      comm_->AllReduce(t, sharding::ReduceOp::kSum));
  ZT_RETURN_IF_ERROR(work->Wait(absl::Now() + kCollectiveTimeout));
  const at::Tensor host = t.cpu();
  const double* p = host.data_ptr<double>();
  return std::vector<double>(p, p + host.numel());
}

Batch Trainer::DeviceBatch(const std::vector<data::TokenizedSample>& samples,
                           const std::vector<int64_t>& indices) const {
  return BatchToDevice(CollateBatch(samples, indices, data_.pad_id, /*pin=*/device_.is_cuda()),
                       device_);
}

Trainer::PreparedStep Trainer::PrepareStep(int64_t step) const {
  PreparedStep prepared;
  // Every micro-batch of the step is collated and its copy enqueued up front: on a device the
  // copies run while the step before, or the first micro-batches, train.
  for (const std::vector<int64_t>& indices : plan_->MicroBatches(step)) {
    prepared.batches.push_back(DeviceBatch(data_.train, indices));
    prepared.local_targets += static_cast<double>(prepared.batches.back().target_tokens);
  }
  prepared.norm.per_token = args_.loss_normalization == "token";
  prepared.norm.world = comm_->Size();
  prepared.norm.window = static_cast<double>(prepared.batches.size());
  prepared.norm.global_targets = prepared.local_targets;
  return prepared;
}

absl::Status Trainer::RunMicroBatches(const PreparedStep& prepared, StepTotals& totals) {
  const model::ForwardOptions forward = Forward(/*training=*/true);
  const std::vector<Batch>& batches = prepared.batches;
  for (size_t m = 0; m < batches.size(); ++m) {
    const Batch& batch = batches[m];
    const at::Tensor summed = BatchLoss(batch, forward);
    const at::Tensor loss = prepared.norm.Normalize(summed, batch.target_tokens);
    ZT_RETURN_IF_ERROR(engine().Backward(loss, /*last_micro_batch=*/m + 1 == batches.size()));
    totals.loss += loss.item<double>();
    totals.tokens += static_cast<double>(batch.tokens);
  }
  ++totals.steps;
  return absl::OkStatus();
}

absl::StatusOr<double> Trainer::Evaluate() {
  at::NoGradGuard no_grad;
  const int64_t n = static_cast<int64_t>(data_.eval.size());
  const int64_t batch = args_.per_device_eval_batch_size;
  double loss_sum = 0, samples = 0, targets = 0;
  std::vector<int64_t> shard;
  for (int64_t i = comm_->Rank(); i < n; i += comm_->Size()) shard.push_back(i);
  // Every rank runs the same number of forwards (stage 3 gathers are collectives): a rank whose
  // shard is short runs sample 0 and drops its loss.
  const int64_t per_rank = (n + comm_->Size() - 1) / comm_->Size();
  const int64_t forwards = (per_rank + batch - 1) / batch;
  const model::ForwardOptions forward = Forward(/*training=*/false);
  for (int64_t f = 0; f < forwards; ++f) {
    const size_t begin = static_cast<size_t>(f * batch);
    const bool filler = begin >= shard.size();
    const std::vector<int64_t> indices =
        filler ? std::vector<int64_t>{0}
               : std::vector<int64_t>(shard.begin() + begin,
                                      shard.begin() + std::min<size_t>(shard.size(), begin + batch));
    const Batch b = DeviceBatch(data_.eval, indices);
    const double summed = BatchLoss(b, forward).item<double>();
    // HF's eval_loss (transformers 5.x prediction_step with the eval step's token count over
    // all ranks): each eval step's summed loss over its target tokens on all ranks, weighted by
    // the step's samples. One all-reduce per step; a filler forward counts nothing.
    ZT_ASSIGN_OR_RETURN(
        std::vector<double> step,
        AllReduceSum({filler ? 0.0 : summed, filler ? 0.0 : static_cast<double>(b.target_tokens),
                      filler ? 0.0 : static_cast<double>(indices.size())}));
    if (step[1] > 0) {
      loss_sum += step[0] / step[1] * step[2];
      samples += step[2];
    }
    targets += step[1];
  }
  if (targets <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--eval_data_path ", args_.eval_data_path, ": no trained token in the eval set (check "
        "--loss_mask and --model_max_length)"));
  }
  return loss_sum / samples;
}

absl::StatusOr<TrainResult> Trainer::Train() {
  TrainResult result;
  const int64_t total = plan_->total_steps();
  const int64_t eval_every = args_.eval_steps > 0 ? args_.eval_steps : args_.logging_steps;
  const bool save_steps = args_.save_strategy == "steps" && args_.save_steps > 0;
  Log(model_.summary.ToString());
  const UntrainedCounts untrained = CountUntrained(data_.train);
  Log(absl::StrCat("data: ", data_.train.size(), " samples from ", args_.data_path, ", ",
                   data_.truncated, " truncated to --model_max_length ", args_.model_max_length,
                   ", ", untrained.cut + untrained.untrained, " without a trained token"));
  Log(absl::StrCat("training: ", data_.train.size(), " samples, ", comm_->Size(), " ranks, ",
                   plan_->micro_batches_per_step(), " micro-batches of ",
                   args_.per_device_train_batch_size, " per step, ", total, " steps (",
                   plan_->steps_per_epoch(), " per epoch), ZeRO stage ", engine().stage(),
                   rank_engine_->OffloadDescription(), ", optimizer ", engine().OptimizerName(),
                   ", on ", device_.str(), " (", comm_->BackendName(), ")"));
  ZT_RETURN_IF_ERROR(checkpointer_->CheckSharedOutputDir());
  ZT_RETURN_IF_ERROR(Resume(result));
  ZT_ASSIGN_OR_RETURN(const std::string event_file, reports_->Open());
  if (!event_file.empty()) Log(absl::StrCat("TensorBoard event file: ", event_file));
  StepTotals window;
  absl::Time window_start = absl::Now();
  bool checkpointed = false;  // at the last step run
  std::optional<PreparedStep> next;
  if (completed_steps_ < total) {
    next = PrepareStep(completed_steps_ + 1);
    ZT_ASSIGN_OR_RETURN(std::vector<double> targets, AllReduceSum({next->local_targets}));
    next->SetGlobalTargets(targets[0]);
  }
  for (int64_t step = completed_steps_ + 1; step <= total; ++step) {
    observer_->OnStep(step);
    const PreparedStep current = std::move(*next);
    next.reset();
    ZT_RETURN_IF_ERROR(RunMicroBatches(current, window));
    const bool last = step == total;
    // The trainer's own collectives of this step, as one all-reduce before the optimizer step:
    // the asynchronous offload step's worker issues all-gathers after Step() returns, and every
    // rank must issue its collectives in one order. It carries the logging window's sums, the
    // coordinator's stop (ranks learn it asynchronously: they agree here) and the next step's
    // target-token count (its batches are collated now, while this step's updates run).
    if (!last) next = PrepareStep(step + 1);
    const std::optional<int64_t> stop_at = observer_->StopStep();
    ZT_ASSIGN_OR_RETURN(
        const std::vector<double> sums,
        AllReduceSum({window.loss, window.tokens,
                      stop_at.has_value() && step >= *stop_at ? 1.0 : 0.0,
                      next.has_value() ? next->local_targets : 0.0}));
    if (next.has_value()) next->SetGlobalTargets(sums[3]);
    ZT_ASSIGN_OR_RETURN(sharding::StepResult r, engine().Step());
    completed_steps_ = result.steps = step;
    const double epoch = plan_->EpochAt(step);
    if (step % args_.logging_steps == 0 || last) {
      const double seconds = absl::ToDoubleSeconds(absl::Now() - window_start);
      // HF's logged loss: the ranks' mean of the normalised losses, per step of the window.
      result.last_loss = sums[0] / (comm_->Size() * static_cast<double>(window.steps));
      result.loss_history.emplace_back(step, result.last_loss);
      std::map<std::string, double> values{
          {"loss", result.last_loss},
          {"learning_rate", r.lr},
          {"grad_norm", r.grad_norm},
          {"loss_scale", r.loss_scale},
          {"tokens_per_second", seconds > 0 ? sums[1] / seconds : 0.0},
          {"peak_rss_mib", PeakRssMib()},
      };
      log_history_.push_back({{"loss", result.last_loss}, {"learning_rate", r.lr},
                              {"grad_norm", r.grad_norm}, {"epoch", epoch}, {"step", step}});
      Log(absl::StrFormat("step %d/%d: loss %.4f, lr %.3g, grad_norm %.4f, epoch %.2f", step,
                          total, result.last_loss, r.lr, r.grad_norm, epoch));
      ZT_RETURN_IF_ERROR(Report(step, values));
      window = StepTotals{};
      window_start = absl::Now();
    }
    if (!data_.eval.empty() && (step % eval_every == 0 || last)) {
      ZT_ASSIGN_OR_RETURN(double eval_loss, Evaluate());
      result.eval_loss = eval_loss;
      log_history_.push_back({{"eval_loss", eval_loss}, {"eval_perplexity", std::exp(eval_loss)},
                              {"epoch", epoch}, {"step", step}});
      Log(absl::StrFormat("step %d: eval_loss %.4f, eval_perplexity %.3f", step, eval_loss,
                          std::exp(eval_loss)));
      ZT_RETURN_IF_ERROR(
          Report(step, {{"eval_loss", eval_loss}, {"eval_perplexity", std::exp(eval_loss)}}));
      if (!best_eval_ || eval_loss < *best_eval_) {
        best_eval_ = eval_loss;
        evals_without_improvement_ = 0;
      } else if (args_.early_stopping_patience > 0 &&
                 ++evals_without_improvement_ >= args_.early_stopping_patience) {
        Log(absl::StrCat("early stopping at step ", step, ": ", evals_without_improvement_,
                         " evaluations without a lower eval loss than ", *best_eval_));
        result.stopped_early = true;
      }
    }
    result.preempted = sums[2] > 0 && !last;
    checkpointed = (save_steps && step % args_.save_steps == 0) || result.preempted;
    if (checkpointed) ZT_RETURN_IF_ERROR(SaveCheckpoint(step));
    if (result.preempted) {
      Log(absl::StrCat("checkpointed at step ", step, " for the coordinated stop"));
      return result;
    }
    if (result.stopped_early) break;
  }
  ZT_RETURN_IF_ERROR(WriteFinalModel(completed_steps_, checkpointed));
  return result;
}

absl::Status Trainer::Report(int64_t step, const std::map<std::string, double>& values) {
  if (comm_->Rank() != 0) return absl::OkStatus();
  const double epoch = plan_->EpochAt(step);
  ZT_RETURN_IF_ERROR(observer_->OnMetrics(step, plan_->total_steps(), epoch, values));
  return reports_->Record(step, epoch, values, log_history_);
}

at::Tensor Trainer::BatchLoss(const Batch& batch, const model::ForwardOptions& forward) const {
  const at::Tensor hidden = model_.decoder->Hidden(batch.input_ids, batch.attention_mask, forward);
  return model_.decoder->ApplyHead(
      hidden, forward, [&batch](const at::Tensor& h, const at::Tensor& lm_head) {
        return SummedCausalLmLossOnTargets(h, lm_head, batch.labels);
      });
}

absl::Status Trainer::WriteFinalModel(int64_t step, bool checkpointed) {
  const bool leader = comm_->Rank() == 0;
  auto write = [&]() -> absl::Status {
    return leader ? WriteTrainedModel(args_.output_dir, model_, args_) : absl::OkStatus();
  };
  if (!rank_engine_->partitions_parameters() || model_.use_lora) {
    return rank_engine_->WithFullTensors(/*trainable_only=*/true, write);
  }
  if (job_.ds.zero.gather_16bit_weights_on_model_save) {
    return rank_engine_->WithFullTensors(/*trainable_only=*/false, write);
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
    ZT_ASSIGN_OR_RETURN(dir, checkpointer_->Save(engine(), request));
    return absl::OkStatus();
  };
  // The adapter is gathered whole (stage 3); full fine-tuning's checkpoint is the zero/ state.
  ZT_RETURN_IF_ERROR(WaitForUpdatedParameters());
  ZT_RETURN_IF_ERROR(model_.use_lora ? rank_engine_->WithFullTensors(/*trainable_only=*/true, save)
                                     : save());
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
  ZT_ASSIGN_OR_RETURN(LoadedCheckpoint loaded, checkpointer_->Load(engine(), *from));
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
