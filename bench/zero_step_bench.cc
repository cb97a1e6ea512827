// ZeRO step time with and without overlap_comm and, with --offload 1, with the synchronous and
// the asynchronous offload step: W ranks (forked processes, Gloo over loopback, a FileStore in
// a fresh temporary folder) train an fp32 MLP of `layers` square linears with the stage-0/1/2
// engine and print a table: per setting, the mean wall time per optimizer step split into
// forward+backward (including the bucketed reductions that overlap it and, for the async step,
// the forward's waits for each layer's parameters) and Step() (norm, AdamW, all-gather; for the
// async step only what runs before it returns).
//
//   zero_step_bench [--world 2] [--stage 2] [--layers 8] [--hidden 512] [--batch 16]
//                   [--bucket 262144] [--steps 6] [--offload 0|1]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sharding/collectives/file_store.h"
#include "sharding/collectives/gloo_communicator.h"
#include "sharding/collectives/prefix_store.h"
#include "sharding/zero/zero_engine.h"

namespace {

using zt::sharding::NamedParameter;

struct Args {
  int world = 2;
  int stage = 2;
  int layers = 8;
  int64_t hidden = 512;
  int64_t batch = 16;
  int64_t bucket = 262144;
  int steps = 6;
  bool offload = false;
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const long long value = std::atoll(argv[i + 1]);
    if (key == "--world")
      a.world = static_cast<int>(value);
    else if (key == "--stage")
      a.stage = static_cast<int>(value);
    else if (key == "--layers")
      a.layers = static_cast<int>(value);
    else if (key == "--hidden")
      a.hidden = value;
    else if (key == "--batch")
      a.batch = value;
    else if (key == "--bucket")
      a.bucket = value;
    else if (key == "--steps")
      a.steps = static_cast<int>(value);
    else if (key == "--offload")
      a.offload = value != 0;
    else
      std::fprintf(stderr, "unknown flag %s\n", key.c_str()), std::exit(2);
  }
  return a;
}

std::vector<NamedParameter> MakeParams(const Args& a) {
  at::manual_seed(1);
  std::vector<NamedParameter> params;
  for (int i = 0; i < a.layers; ++i) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(a.hidden));
    params.push_back({absl::StrCat("l", i, ".w"),
                      ((at::rand({a.hidden, a.hidden}) * 2 - 1) * bound).requires_grad_()});
    params.push_back({absl::StrCat("l", i, ".b"), at::zeros({a.hidden}).requires_grad_()});
  }
  return params;
}

// With the async offload step the forward waits for each layer's parameters before using them.
at::Tensor Loss(zt::sharding::ZeroEngine& engine, const std::vector<NamedParameter>& params,
                const at::Tensor& x, bool wait) {
  at::Tensor h = x;
  for (size_t i = 0; i < params.size(); i += 2) {
    if (wait) {
      absl::Status ready = engine.WaitForParameters(params[i].name);
      if (ready.ok()) ready = engine.WaitForParameters(params[i + 1].name);
      if (!ready.ok()) {
        std::fprintf(stderr, "wait failed: %s\n", ready.ToString().c_str());
        std::exit(1);
      }
    }
    h = at::tanh(at::addmm(params[i + 1].tensor, h, params[i].tensor.t()));
  }
  return h.pow(2).mean();
}

// Mean seconds per step of (forward + backward) and of Step(), after one warm-up step.
std::pair<double, double> TimeSteps(zt::sharding::ZeroEngine& engine,
                                    const std::vector<NamedParameter>& params, const Args& a,
                                    bool wait) {
  double backward_s = 0, step_s = 0;
  for (int s = 0; s <= a.steps; ++s) {
    at::Tensor x = at::randn({a.batch, a.hidden});
    absl::Time t0 = absl::Now();
    absl::Status status = engine.Backward(Loss(engine, params, x, wait), /*last_micro_batch=*/true);
    absl::Time t1 = absl::Now();
    absl::StatusOr<zt::sharding::StepResult> result = engine.Step();
    absl::Time t2 = absl::Now();
    if (!status.ok() || !result.ok()) {
      std::fprintf(stderr, "step failed: %s %s\n", status.ToString().c_str(),
                   result.status().ToString().c_str());
      std::exit(1);
    }
    if (s == 0) continue;
    backward_s += absl::ToDoubleSeconds(t1 - t0);
    step_s += absl::ToDoubleSeconds(t2 - t1);
  }
  return {backward_s / a.steps, step_s / a.steps};
}

int RunRank(int rank, const Args& a, const std::string& dir) {
  at::set_num_threads(1);
  std::shared_ptr<zt::sharding::Store> base = *zt::sharding::FileStore::Open(dir);
  std::shared_ptr<zt::sharding::Store> store(*zt::sharding::JobStore(base, "zero-bench", 0));
  zt::sharding::GlooOptions gloo;
  gloo.hostname = "127.0.0.1";
  auto comm = zt::sharding::GlooCommunicator::Create(store, rank, a.world,
                                                     absl::Now() + absl::Seconds(60), gloo);
  if (!comm.ok()) {
    std::fprintf(stderr, "rank %d: %s\n", rank, comm.status().ToString().c_str());
    return 1;
  }
  std::shared_ptr<zt::sharding::Communicator> shared(std::move(*comm));
  if (rank == 0) {
    std::printf(
        "world %d stage %d offload %d: %d x [%lld x %lld] fp32 (%lld params), batch %lld "
        "per rank, bucket %lld elements, %d steps\n",
        a.world, a.stage, a.offload, a.layers, (long long)a.hidden, (long long)a.hidden,
        (long long)(a.layers * (a.hidden * a.hidden + a.hidden)), (long long)a.batch,
        (long long)a.bucket, a.steps);
    std::printf("%-14s %-14s %18s %12s %12s\n", "overlap_comm", "offload step",
                "fwd+bwd+reduce ms", "Step() ms", "total ms");
  }
  struct Setting {
    bool overlap;
    bool async;
  };
  std::vector<Setting> settings{{false, false}, {true, false}};
  if (a.offload) settings.insert(settings.end(), {{false, true}, {true, true}});
  for (const auto [overlap, async] : settings) {
    std::vector<NamedParameter> params = MakeParams(a);
    zt::sharding::ZeroEngineOptions options;
    options.stage = a.stage;
    options.reduce_bucket_numel = a.bucket;
    options.overlap_comm = overlap;
    options.offload.offload = a.offload;
    options.async_offload_step = async;
    options.gradient_clipping = 1.0;
    auto engine = zt::sharding::ZeroEngine::Create({{params, std::nullopt, {}}}, options, shared);
    if (!engine.ok()) {
      std::fprintf(stderr, "rank %d: %s\n", rank, engine.status().ToString().c_str());
      return 1;
    }
    auto [backward_s, step_s] = TimeSteps(**engine, params, a, async);
    absl::Status drained = (*engine)->WaitForAllParameters();
    if (!drained.ok()) {
      std::fprintf(stderr, "rank %d: %s\n", rank, drained.ToString().c_str());
      return 1;
    }
    if (rank == 0) {
      std::printf("%-14s %-14s %18.1f %12.1f %12.1f\n", overlap ? "true" : "false",
                  !a.offload ? "-" : async ? "async" : "sync", backward_s * 1e3, step_s * 1e3,
                  (backward_s + step_s) * 1e3);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = Parse(argc, argv);
  char pattern[] = "/tmp/zero_step_bench.XXXXXX";
  const char* dir = mkdtemp(pattern);
  if (dir == nullptr) return std::perror("mkdtemp"), 1;
  std::vector<pid_t> children;
  for (int rank = 1; rank < a.world; ++rank) {
    const pid_t pid = fork();
    if (pid == 0) std::_Exit(RunRank(rank, a, dir));
    children.push_back(pid);
  }
  int code = RunRank(0, a, dir);
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) code = 1;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return code;
}
