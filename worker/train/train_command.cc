#include "worker/train/train_command.h"

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "configs/training_arguments_cli.h"
#include "coordinator/metrics_writer.h"
#include "coordinator/protocol.h"
#include "sharding/collectives/communicator_factory.h"
#include "sharding/collectives/in_memory_store.h"
#include "worker/runtime/worker_runtime.h"
#include "worker/train/trainer.h"
#include "worker/train/training_device.h"

namespace zt::worker::train {
namespace {

constexpr absl::Duration kRendezvousTimeout = absl::Minutes(5);

// Test hook for restart tests (docs/DEVELOPING.md): ZEROTUNE_TEST_CRASH_AT="<rank>:<step>" makes
// that rank SIGKILL itself as it starts that step, in the job's first generation only.
std::optional<int64_t> CrashStep(const WorkerRuntime& runtime) {
  const char* spec = std::getenv("ZEROTUNE_TEST_CRASH_AT");
  if (spec == nullptr || runtime.assignment().generation() != 0) return std::nullopt;
  const std::vector<std::string> parts = absl::StrSplit(spec, ':');
  int rank = -1;
  int64_t step = -1;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &rank) || !absl::SimpleAtoi(parts[1], &step) ||
      rank != runtime.rank()) {
    return std::nullopt;
  }
  return step;
}

// Reports through the coordinator protocol.
class RuntimeObserver : public TrainingObserver {
 public:
  explicit RuntimeObserver(WorkerRuntime& runtime)
      : runtime_(runtime), crash_step_(CrashStep(runtime)) {}
  void OnStep(int64_t step) override {
    runtime_.SetStep(step);
    if (crash_step_ == step) std::raise(SIGKILL);
  }
  absl::Status OnMetrics(int64_t step, int64_t max_steps, double epoch,
                         const std::map<std::string, double>& values) override {
    return runtime_.ReportMetrics(step, max_steps, epoch, values);
  }
  std::optional<int64_t> StopStep() const override { return runtime_.stop_step(); }
  void Log(const std::string& line) const override { runtime_.Log(line); }

 private:
  WorkerRuntime& runtime_;
  std::optional<int64_t> crash_step_;
};

// A process started without any launcher: logs to stderr and, with no coordinator to do it,
// writes the metrics files itself through the coordinator's writer (the same format as under
// `zerotune launch`). Opened at the first record, as the coordinator does.
class StandaloneObserver : public TrainingObserver {
 public:
  explicit StandaloneObserver(std::string output_dir) : output_dir_(std::move(output_dir)) {}
  absl::Status OnMetrics(int64_t step, int64_t max_steps, double epoch,
                         const std::map<std::string, double>& values) override {
    if (metrics_ == nullptr) {
      ZT_ASSIGN_OR_RETURN(metrics_, coordinator::MetricsWriter::Open(output_dir_));
    }
    coordinator::MetricsRecord record;
    record.step = step;
    record.max_steps = max_steps;
    record.epoch = epoch;
    record.time = absl::Now();
    record.values = values;
    return metrics_->Append(record);
  }
  void Log(const std::string& line) const override { log::Info(line); }

 private:
  std::string output_dir_;
  std::unique_ptr<coordinator::MetricsWriter> metrics_;
};

bool StartedByALauncher() {
  for (const char* name : {coordinator::kEnvCoordinator, "OMPI_COMM_WORLD_RANK", "PMIX_RANK",
                           "PMI_RANK", "SLURM_PROCID", "RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

// Intra-op threads: OMP_NUM_THREADS when set, else this host's cores shared by its ranks.
void SetThreads() {
  if (std::getenv("OMP_NUM_THREADS") != nullptr) return;  // LibTorch read it already
  int64_t local_ranks = 1;
  if (const char* text = std::getenv("LOCAL_WORLD_SIZE"); text != nullptr) {
    if (!absl::SimpleAtoi(text, &local_ranks) || local_ranks < 1) local_ranks = 1;
  }
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  at::set_num_threads(static_cast<int>(std::max<int64_t>(1, cores / local_ranks)));
}

void PrintArguments(const configs::TrainingArguments& args, const TrainingObserver& out) {
  std::string text = "training arguments:";
  for (const configs::ArgumentSpec& spec : configs::TrainingArgumentSpecs()) {
    const std::string name = spec.name;
    const bool implied = name == "use_lora" && !args.IsSet(name) && args.use_lora &&
                         !args.adapter_name_or_path.empty();
    absl::StrAppend(&text, "\n  --", name, " ", configs::ArgumentValueText(args, spec),
                    implied             ? "  (implied by --adapter_name_or_path)"
                    : args.IsSet(name)  ? ""
                                        : "  (default)");
  }
  out.Log(text);
}

absl::StatusOr<TrainResult> RunTraining(const configs::TrainingArguments& args,
                                        std::shared_ptr<sharding::Communicator> comm,
                                        TrainerPlacement placement, TrainingObserver& observer) {
  const bool rank0 = comm->Rank() == 0;
  if (rank0) PrintArguments(args, observer);
  ZT_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer,
                      Trainer::Create(args, std::move(comm), std::move(placement), &observer));
  ZT_ASSIGN_OR_RETURN(TrainResult result, trainer->Train());
  if (rank0 && !result.preempted) {
    observer.Log(absl::StrCat("training done: ", result.steps, " steps, loss ", result.last_loss,
                              result.eval_loss ? absl::StrCat(", eval_loss ", *result.eval_loss) : "",
                              "; output in ", args.output_dir));
  }
  return result;
}

int RunStandalone(const configs::TrainingArguments& args) {
  StandaloneObserver observer(args.output_dir);
  // A lone process is local rank 0 (LOCAL_RANK is only read from a launcher's environment).
  absl::StatusOr<at::Device> device = SelectTrainingDevice(args.use_cpu, /*local_rank=*/0);
  absl::Status status = device.status();
  if (device.ok()) {
    sharding::CommunicatorSpec spec;
    spec.backend = "self";
    absl::StatusOr<std::unique_ptr<sharding::Communicator>> comm =
        sharding::CreateCommunicator(spec, absl::Now() + kRendezvousTimeout);
    TrainerPlacement placement;
    placement.store = std::make_shared<sharding::InMemoryStore>();
    placement.device = *device;
    status = comm.status();
    if (comm.ok()) status = RunTraining(args, std::move(*comm), placement, observer).status();
  }
  if (status.ok()) return 0;
  log::Error(absl::StrCat("zerotune-worker train: ", status.message()));
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

int RunRank(const configs::TrainingArguments& args) {
  absl::StatusOr<WorkerRuntimeOptions> options = WorkerRuntimeOptions::FromEnv();
  if (!options.ok()) {
    log::Error(absl::StrCat("zerotune-worker train: ", options.status().message()));
    return 2;
  }
  // Under srun/mpirun rank 0's in-process coordinator writes the metrics files here.
  options->metrics_dir = args.output_dir;
  absl::StatusOr<std::unique_ptr<WorkerRuntime>> runtime = WorkerRuntime::Start(*options);
  if (!runtime.ok()) {
    log::Error(absl::StrCat("zerotune-worker train: ", runtime.status().message()));
    return 1;
  }
  WorkerRuntime& rt = **runtime;
  RuntimeObserver observer(rt);
  absl::StatusOr<at::Device> device = SelectTrainingDevice(args.use_cpu, rt.assignment().local_rank());
  if (!device.ok()) {
    rt.Log(absl::StrCat("train failed: ", device.status().message()));
    rt.ReportFailure(device.status());
    return 2;
  }
  sharding::CommunicatorSpec spec;
  spec.backend = CommunicatorBackendFor(*device, rt.world_size());
  spec.device = device->is_cuda() ? device->index() : -1;
  spec.rank = rt.rank();
  spec.world_size = rt.world_size();
  spec.store = rt.store();
  spec.hostname = rt.assignment().advertise_address();
  spec.key_prefix = "train/data_parallel";
  absl::StatusOr<std::unique_ptr<sharding::Communicator>> created =
      sharding::CreateCommunicator(spec, absl::Now() + kRendezvousTimeout);
  absl::StatusOr<TrainResult> result = absl::UnknownError("not run");
  if (!created.ok()) {
    result = created.status();
  } else {
    std::shared_ptr<sharding::Communicator> comm = std::move(*created);
    rt.AddAbortHook([comm](const std::string& reason) { comm->Abort(absl::AbortedError(reason)); });
    TrainerPlacement placement;
    placement.store = rt.store();
    placement.node = rt.assignment().node_rank();
    placement.device = *device;
    result = RunTraining(args, comm, placement, observer);
  }
  const absl::Status status = result.status();
  if (!status.ok()) {
    rt.Log(absl::StrCat("train failed: ", status.message()));
    rt.ReportFailure(status);
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (result->preempted) {
    absl::Status stopped = rt.ReportStopped();
    if (!stopped.ok()) rt.Log(absl::StrCat("reporting the stop failed: ", stopped.message()));
    return coordinator::kExitPreempted;
  }
  absl::Status finished = rt.ReportFinished();
  if (!finished.ok()) rt.Log(absl::StrCat("reporting the end failed: ", finished.message()));
  return 0;
}

}  // namespace

void AddTrainCommand(CLI::App& app) {
  auto args = std::make_shared<configs::TrainingArguments>();
  CLI::App* command = app.add_subcommand(
      "train", "Train one rank of a job (started by zerotune launch, srun or mpirun, or alone)");
  configs::AddTrainingArgumentOptions(*command, args.get());
  command->callback([args] {
    SetThreads();
    const int code = StartedByALauncher() ? RunRank(*args) : RunStandalone(*args);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace zt::worker::train
