// Per-rank peak memory of one LoRA training step at ZeRO stage 2 (frozen base replicated) versus
// stage 3 (every tensor partitioned, gathered just in time) for a model preset
// (worker/model/model_presets.h): W forked ranks (Gloo over loopback, a FileStore in a fresh
// temporary folder) each build the preset with random weights, inject all-linear LoRA, set up
// the engine (stage 3: partition, which frees the full tensors), then reset the kernel's
// high-water mark (/proc/self/clear_refs) and run one micro-step (forward, backward, optimizer
// step) on a random sequence. Printed per rank: VmHWM during the step (peak resident set),
// VmRSS after it, and the model-state bytes the engine keeps between steps.
//
//   zero3_memory_bench [--preset qwen2.5-0.5b] [--world 2] [--stage 3] [--seq 32] [--r 16]
//                      [--dtype bf16|fp32] [--checkpointing 1]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/forked_ranks.h"
#include "sharding/collectives/file_store.h"
#include "sharding/collectives/gloo_communicator.h"
#include "sharding/zero/zero3_optimizer.h"
#include "sharding/zero/zero3_parameters.h"
#include "sharding/zero/zero_engine.h"
#include "worker/model/decoder_partition.h"
#include "worker/model/lora_model.h"
#include "worker/model/model_presets.h"

namespace {

namespace fs = std::filesystem;

struct Args {
  std::string preset = "qwen2.5-0.5b";
  int world = 2;
  int stage = 3;
  int64_t seq = 32;
  int64_t r = 16;
  std::string dtype = "bf16";
  bool checkpointing = true;
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--preset") a.preset = value;
    else if (key == "--world") a.world = std::atoi(value.c_str());
    else if (key == "--stage") a.stage = std::atoi(value.c_str());
    else if (key == "--seq") a.seq = std::atoll(value.c_str());
    else if (key == "--r") a.r = std::atoll(value.c_str());
    else if (key == "--dtype") a.dtype = value;
    else if (key == "--checkpointing") a.checkpointing = value != "0";
    else std::fprintf(stderr, "unknown flag %s\n", key.c_str()), std::exit(2);
  }
  return a;
}

[[noreturn]] void Die(int rank, const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "rank %d: %s: %s\n", rank, what.c_str(), status.ToString().c_str());
  std::exit(1);
}

// A field of /proc/self/status in MiB (VmHWM, VmRSS).
double StatusMib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atof(line.c_str() + field.size() + 1) / 1024.0;
  }
  return -1;
}

int RunRank(int rank, const Args& a, const std::string& dir) {
  at::set_num_threads(1);
  auto preset = zt::worker::model::FindPreset(a.preset, "");
  if (!preset.ok()) Die(rank, "preset", preset.status());
  absl::StatusOr<zt::bench::BenchRank> joined =
      zt::bench::ConnectGlooRank(dir, rank, a.world, absl::Seconds(120));
  if (!joined.ok()) Die(rank, "gloo", joined.status());
  std::shared_ptr<zt::sharding::Communicator> shared = joined->comm;

  const at::ScalarType dtype = a.dtype == "fp32" ? at::kFloat : at::kBFloat16;
  auto decoder = zt::worker::model::Decoder::RandomInit(preset->config, 7, dtype,
                                                        preset->initializer_range);
  if (!decoder.ok()) Die(rank, "init", decoder.status());
  zt::worker::model::LoraOptions lora;
  lora.r = a.r;
  lora.lora_alpha = 2.0 * a.r;
  lora.target_modules.kind = zt::configs::LoraTargetModules::Kind::kAllLinear;
  lora.dtype = at::kFloat;
  if (auto s = zt::worker::model::ApplyLora(*decoder, lora, 9); !s.ok()) Die(rank, "lora", s);
  zt::worker::model::SetTrainable(*decoder, /*train_base=*/false);

  zt::configs::OptimizerConfig optimizer;
  optimizer.lr = 1e-4;
  std::unique_ptr<zt::sharding::ZeroEngine> engine;
  std::unique_ptr<zt::sharding::Zero3Parameters> params;
  std::unique_ptr<zt::sharding::Zero3Optimizer> zero3;
  zt::worker::model::ForwardOptions forward;
  forward.gradient_checkpointing = a.checkpointing;
  int64_t state_bytes = 0;
  if (a.stage == 3) {
    zt::sharding::Zero3ParameterOptions options;  // DeepSpeed's defaults
    options.persistence_threshold = 100000;
    auto p = zt::worker::model::PartitionDecoder(*decoder, options, shared);
    if (!p.ok()) Die(rank, "zero3", p.status());
    params = std::move(*p);
    zt::sharding::Zero3OptimizerOptions o;
    o.optimizer = optimizer;
    auto z = zt::sharding::Zero3Optimizer::Create(params.get(), o);
    if (!z.ok()) Die(rank, "zero3 optimizer", z.status());
    zero3 = std::move(*z);
    forward.parameter_hook = params.get();
    state_bytes = params->ResidentBytes(false) + params->ResidentBytes(true) +
                  zero3->OptimizerStateBytes();
  } else {
    std::vector<zt::sharding::NamedParameter> trainable;
    int64_t frozen = 0;
    for (auto& [name, t] : decoder->NamedTensors()) {
      if (t->requires_grad()) trainable.push_back({name, *t});
      else frozen += t->nbytes();
    }
    zt::sharding::ZeroEngineOptions o;
    o.stage = a.stage;
    o.optimizer = optimizer;
    auto e = zt::sharding::ZeroEngine::Create({{trainable, std::nullopt, {}}}, o, shared);
    if (!e.ok()) Die(rank, "engine", e.status());
    engine = std::move(*e);
    state_bytes = frozen + engine->ParameterBufferBytes() + engine->OptimizerStateBytes() +
                  engine->GradientAccumulatorBytes();
  }
  ::malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";  // reset VmHWM to the current RSS
  const double before = StatusMib("VmRSS");
  at::manual_seed(1);
  const at::Tensor ids = at::randint(0, preset->config.vocab_size, {1, a.seq}, at::kLong);
  const absl::Time start = absl::Now();
  const at::Tensor loss =
      zt::worker::model::CausalLmLoss(decoder->Logits(ids, at::Tensor(), forward), ids);
  absl::Status status = a.stage == 3 ? zero3->Backward(loss, true) : engine->Backward(loss, true);
  if (!status.ok()) Die(rank, "backward", status);
  auto step = a.stage == 3 ? zero3->Step() : engine->Step();
  if (!step.ok()) Die(rank, "step", step.status());
  std::printf(
      "%s stage %d W=%d rank %d %s seq %lld checkpointing %d: model state %.1f MiB, RSS before "
      "the step %.1f MiB, peak during the step (VmHWM) %.1f MiB, after %.1f MiB, %.1f s\n",
      a.preset.c_str(), a.stage, a.world, rank, a.dtype.c_str(), static_cast<long long>(a.seq),
      a.checkpointing ? 1 : 0, state_bytes / 1048576.0, before, StatusMib("VmHWM"),
      StatusMib("VmRSS"), absl::ToDoubleSeconds(absl::Now() - start));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = Parse(argc, argv);
  return zt::bench::RunForkedRanks(
      a.world, "zero3_memory_bench", [&a](int rank, const std::string& dir) { return RunRank(rank, a, dir); });
}
