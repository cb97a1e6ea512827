#include "worker/runtime/selftest_command.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "coordinator/protocol.h"
#include "sharding/collectives/gloo_communicator.h"
#include "worker/runtime/worker_runtime.h"

namespace zt::worker {
namespace {

constexpr absl::Duration kCollectiveTimeout = absl::Seconds(60);

struct Checkpoint {
  int64_t step = 0;
  int64_t counter = 0;
};

std::string SelftestDir(const SelftestOptions& options) { return options.output_dir + "/selftest"; }

std::string RankFile(const SelftestOptions& options, int64_t step, int rank) {
  return absl::StrCat(SelftestDir(options), "/step-", step, "/rank-", rank, ".json");
}

// The latest complete checkpoint of this rank; step 0 when there is none.
absl::StatusOr<Checkpoint> LoadLatest(const SelftestOptions& options, int rank) {
  std::ifstream latest(SelftestDir(options) + "/latest");
  if (!latest) return Checkpoint{};
  std::string text;
  latest >> text;
  int64_t step = 0;
  if (!absl::SimpleAtoi(text, &step)) {
    return absl::DataLossError(absl::StrCat(SelftestDir(options), "/latest holds '", text, "'"));
  }
  const std::string path = RankFile(options, step, rank);
  std::ifstream in(path);
  nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
  if (json.is_discarded() || !json.contains("counter")) {
    return absl::DataLossError(absl::StrCat("checkpoint file ", path, " is missing or unreadable"));
  }
  return Checkpoint{json["step"].get<int64_t>(), json["counter"].get<int64_t>()};
}

absl::Status Save(const SelftestOptions& options, WorkerRuntime& runtime, const Checkpoint& ckpt) {
  const std::string path = RankFile(options, ckpt.step, runtime.rank());
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  {
    std::ofstream out(path, std::ios::trunc);
    out << nlohmann::json{{"step", ckpt.step}, {"counter", ckpt.counter}}.dump() << "\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  ZT_RETURN_IF_ERROR(runtime.Barrier(absl::StrCat("selftest/saved/", ckpt.step),
                                     absl::Now() + kCollectiveTimeout));
  if (runtime.rank() != 0) return absl::OkStatus();
  const std::string latest = SelftestDir(options) + "/latest";
  {
    std::ofstream out(latest + ".tmp", std::ios::trunc);
    out << ckpt.step << "\n";
  }
  std::filesystem::rename(latest + ".tmp", latest);
  return absl::OkStatus();
}

// One all-reduce of [1, stop] over the communicator; returns the sums.
absl::StatusOr<std::pair<int64_t, int64_t>> AllReduceStep(sharding::Communicator& comm, bool stop) {
  at::Tensor values = at::tensor({int64_t{1}, int64_t{stop ? 1 : 0}}, at::kLong);
  ZT_ASSIGN_OR_RETURN(std::unique_ptr<sharding::Work> work,
                      comm.AllReduce(values, sharding::ReduceOp::kSum));
  ZT_RETURN_IF_ERROR(work->Wait(absl::Now() + kCollectiveTimeout));
  return std::make_pair(values[0].item<int64_t>(), values[1].item<int64_t>());
}

// The step loop; returns the exit code on success.
absl::StatusOr<int> Loop(const SelftestOptions& options, WorkerRuntime& runtime) {
  sharding::GlooOptions gloo;
  gloo.hostname = runtime.assignment().advertise_address();
  gloo.key_prefix = "selftest/gloo";
  ZT_ASSIGN_OR_RETURN(std::shared_ptr<sharding::GlooCommunicator> comm,
                      sharding::GlooCommunicator::Create(runtime.store(), runtime.rank(),
                                                         runtime.world_size(),
                                                         absl::Now() + kCollectiveTimeout, gloo));
  runtime.AddAbortHook([comm](const std::string& reason) { comm->Abort(absl::AbortedError(reason)); });
  ZT_ASSIGN_OR_RETURN(Checkpoint state, LoadLatest(options, runtime.rank()));
  runtime.Log(absl::StrCat("selftest: world ", runtime.world_size(), ", generation ",
                           runtime.assignment().generation(), ", resuming at step ", state.step,
                           " with counter ", state.counter));
  for (int64_t step = state.step + 1; step <= options.steps; ++step) {
    runtime.SetStep(step);
    absl::SleepFor(absl::Milliseconds(options.step_ms));
    if (step == options.fail_at_step && runtime.rank() == options.fail_rank &&
        runtime.assignment().generation() == 0) {
      return absl::InternalError(absl::StrCat("selftest: injected failure at step ", step));
    }
    const std::optional<int64_t> stop_at = runtime.stop_step();
    ZT_ASSIGN_OR_RETURN(auto sums, AllReduceStep(*comm, stop_at && step >= *stop_at));
    state.counter += sums.first;
    state.step = step;
    if (runtime.rank() == 0) {
      ZT_RETURN_IF_ERROR(runtime.ReportMetrics(
          step, options.steps, static_cast<double>(step) / options.steps,
          {{"loss", 1.0 / step}, {"learning_rate", 1e-3}, {"counter", double(state.counter)}}));
    }
    const bool stop = sums.second > 0;
    if (stop || step % options.save_every == 0) ZT_RETURN_IF_ERROR(Save(options, runtime, state));
    if (stop) {
      runtime.Log(absl::StrCat("selftest: checkpointed at step ", step, ", stopping"));
      ZT_RETURN_IF_ERROR(runtime.ReportStopped());
      return coordinator::kExitPreempted;
    }
  }
  runtime.Log(absl::StrCat("selftest done: step ", state.step, " counter ", state.counter));
  ZT_RETURN_IF_ERROR(runtime.ReportFinished());
  return 0;
}

}  // namespace

int RunSelftest(const SelftestOptions& options) {
  absl::StatusOr<WorkerRuntimeOptions> runtime_options = WorkerRuntimeOptions::FromEnv();
  if (!runtime_options.ok()) {
    log::Error(absl::StrCat("zerotune-worker selftest: ", runtime_options.status().message()));
    return 2;
  }
  absl::StatusOr<std::unique_ptr<WorkerRuntime>> runtime = WorkerRuntime::Start(*runtime_options);
  if (!runtime.ok()) {
    log::Error(absl::StrCat("zerotune-worker selftest: ", runtime.status().message()));
    return 1;
  }
  absl::StatusOr<int> code = Loop(options, **runtime);
  if (!code.ok()) {
    (*runtime)->Log(absl::StrCat("selftest failed: ", code.status().ToString()));
    (*runtime)->ReportFailure(code.status());
    return 1;
  }
  return *code;
}

void AddSelftestCommand(CLI::App& app) {
  auto options = std::make_shared<SelftestOptions>();
  CLI::App* command = app.add_subcommand(
      "selftest", "register with the coordinator, all-reduce a counter each step, checkpoint and resume");
  command->add_option("--steps", options->steps, "steps to run")->check(CLI::PositiveNumber);
  command->add_option("--save_every", options->save_every, "checkpoint every K steps")
      ->check(CLI::PositiveNumber);
  command->add_option("--output_dir", options->output_dir, "checkpoint folder")->required();
  command->add_option("--step_ms", options->step_ms, "simulated work per step (ms)");
  command->add_option("--fail_at_step", options->fail_at_step, "test hook: fail at this step");
  command->add_option("--fail_rank", options->fail_rank, "test hook: the rank that fails");
  command->callback([options] {
    const int code = RunSelftest(*options);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace zt::worker
