// Checkpoint size and save/load wall time for the LoRA adapters of a model preset
// (worker/model/model_presets.h): W forked ranks (Gloo over loopback, a FileStore in a fresh
// temporary folder) hold the adapters of every linear of every layer (PEFT's all-linear, fp32
// as PEFT keeps them) under a ZeRO engine, take one optimizer step so the moments are non-zero,
// then Save (state partitions, adapter on rank 0, trainer_state.json, manifest with SHA-256s)
// and Load into a fresh engine. The frozen base is never saved, so it is not allocated here;
// the base folder holds the preset's config.json (the fingerprint covers it).
//
//   checkpoint_bench [--preset qwen2.5-0.5b] [--r 16] [--world 2] [--stage 2] [--repeats 3]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <unistd.h>

#include <algorithm>
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
#include "sharding/zero/zero_engine.h"
#include "worker/model/model_presets.h"
#include "worker/train/checkpointer.h"

namespace {

namespace fs = std::filesystem;
using zt::sharding::NamedParameter;

struct Args {
  std::string preset = "qwen2.5-0.5b";
  int64_t r = 16;
  int world = 2;
  int stage = 2;
  int repeats = 3;
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--preset") a.preset = value;
    else if (key == "--r") a.r = std::atoll(value.c_str());
    else if (key == "--world") a.world = std::atoi(value.c_str());
    else if (key == "--stage") a.stage = std::atoi(value.c_str());
    else if (key == "--repeats") a.repeats = std::atoi(value.c_str());
    else std::fprintf(stderr, "unknown flag %s\n", key.c_str()), std::exit(2);
  }
  return a;
}

// lora_A [r, in] and lora_B [out, r] of q/k/v/o/gate/up/down in every layer, forward order,
// under PEFT's tensor names; A random, B small random (as after some training).
std::vector<NamedParameter> LoraParams(const zt::worker::model::DecoderConfig& c, int64_t r) {
  at::manual_seed(1);
  const int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  struct Linear {
    const char* module;
    int64_t in, out;
  };
  const Linear linears[] = {{"self_attn.q_proj", c.hidden_size, q},
                            {"self_attn.k_proj", c.hidden_size, kv},
                            {"self_attn.v_proj", c.hidden_size, kv},
                            {"self_attn.o_proj", q, c.hidden_size},
                            {"mlp.gate_proj", c.hidden_size, c.intermediate_size},
                            {"mlp.up_proj", c.hidden_size, c.intermediate_size},
                            {"mlp.down_proj", c.intermediate_size, c.hidden_size}};
  std::vector<NamedParameter> params;
  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    for (const Linear& l : linears) {
      const std::string name =
          absl::StrCat("base_model.model.model.layers.", layer, ".", l.module);
      params.push_back({name + ".lora_A.weight", (at::randn({r, l.in}) * 0.02).requires_grad_()});
      params.push_back({name + ".lora_B.weight", (at::randn({l.out, r}) * 0.02).requires_grad_()});
    }
  }
  return params;
}

int64_t FolderBytes(const std::string& dir) {
  int64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += static_cast<int64_t>(e.file_size());
  }
  return total;
}

void Die(int rank, const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "rank %d: %s: %s\n", rank, what.c_str(), status.ToString().c_str());
  std::exit(1);
}

int RunRank(int rank, const Args& a, const std::string& dir) {
  at::set_num_threads(1);
  auto preset = zt::worker::model::FindPreset(a.preset, "");
  if (!preset.ok()) Die(rank, "preset", preset.status());
  absl::StatusOr<zt::bench::BenchRank> joined =
      zt::bench::ConnectGlooRank(dir, rank, a.world, absl::Seconds(60));
  if (!joined.ok()) Die(rank, "gloo", joined.status());
  std::shared_ptr<zt::sharding::Store> store = joined->store;
  std::shared_ptr<zt::sharding::Communicator> shared = joined->comm;
  const std::string base = dir + "/base";
  if (rank == 0) {
    fs::create_directories(base);
    std::ofstream(base + "/config.json")
        << zt::worker::model::HfConfigJson(*preset, at::kBFloat16).dump(2);
  }
  zt::worker::train::CheckpointerOptions options;
  options.output_dir = dir + "/out";
  options.base_model_dir = base;
  options.rank = rank;
  options.world_size = a.world;
  zt::worker::train::Checkpointer ckpt(options, store);
  absl::Status shared_ok = ckpt.CheckSharedOutputDir();
  if (!shared_ok.ok()) Die(rank, "output_dir", shared_ok);

  auto make_engine = [&](std::vector<NamedParameter>& params) {
    zt::sharding::ZeroEngineOptions engine_options;
    engine_options.stage = a.stage;
    engine_options.optimizer.lr = 1e-4;
    auto engine = zt::sharding::ZeroEngine::Create(
        {zt::sharding::ParameterGroup{params, std::nullopt, {}}}, engine_options, shared);
    if (!engine.ok()) Die(rank, "engine", engine.status());
    return std::move(*engine);
  };
  std::vector<NamedParameter> params = LoraParams(preset->config, a.r);
  int64_t numel = 0;
  for (const NamedParameter& p : params) numel += p.tensor.numel();
  auto engine = make_engine(params);
  at::Tensor loss = at::zeros({});
  for (const NamedParameter& p : params) loss = loss + p.tensor.pow(2).sum() * 1e-3;
  absl::Status backward = engine->Backward(loss, /*last_micro_batch=*/true);
  if (!backward.ok()) Die(rank, "backward", backward);
  if (!engine->Step().ok()) Die(rank, "step", absl::InternalError("step"));

  std::vector<double> save_s, load_s;
  std::string saved;
  for (int i = 0; i < a.repeats; ++i) {
    zt::worker::train::SaveRequest request;
    request.step = i + 1;
    request.trainer_state = {{"global_step", i + 1}};
    request.client_state = {{"sampler", {{"global_sample_index", 0}}}};
    request.rank_state = {{"seed", rank}};
    if (rank == 0) {
      zt::worker::io::PeftLoraConfig config;
      config.r = a.r;
      config.lora_alpha = 2.0 * a.r;
      config.target_modules = {"down_proj", "gate_proj", "k_proj", "o_proj",
                               "q_proj",    "up_proj",   "v_proj"};
      request.adapter_config = config;
      for (const NamedParameter& p : params) request.adapter_tensors.emplace_back(p.name, p.tensor.detach());
    }
    const absl::Time t0 = absl::Now();
    auto result = ckpt.Save(*engine, request);
    if (!result.ok()) Die(rank, "save", result.status());
    save_s.push_back(absl::ToDoubleSeconds(absl::Now() - t0));
    saved = *result;

    std::vector<NamedParameter> fresh = LoraParams(preset->config, a.r);
    auto other = make_engine(fresh);
    const absl::Time t1 = absl::Now();
    auto loaded = ckpt.Load(*other, saved);
    if (!loaded.ok()) Die(rank, "load", loaded.status());
    load_s.push_back(absl::ToDoubleSeconds(absl::Now() - t1));
  }
  if (rank == 0) {
    std::sort(save_s.begin(), save_s.end());
    std::sort(load_s.begin(), load_s.end());
    const int64_t bytes = FolderBytes(saved);
    const int64_t state = FolderBytes(saved + "/zero");
    std::printf("%s LoRA r=%lld all-linear: %lld trainable params (fp32), world %d, stage %d\n",
                a.preset.c_str(), (long long)a.r, (long long)numel, a.world, a.stage);
    std::printf("checkpoint folder %.1f MB (optimizer state %.1f MB in %d files, adapter + "
                "trainer_state + manifest %.1f MB)\n",
                bytes / 1e6, state / 1e6, a.world, (bytes - state) / 1e6);
    std::printf("save: median %.3f s (min %.3f, max %.3f) | load: median %.3f s (min %.3f, "
                "max %.3f) over %d repeats\n",
                save_s[save_s.size() / 2], save_s.front(), save_s.back(), load_s[load_s.size() / 2],
                load_s.front(), load_s.back(), a.repeats);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = Parse(argc, argv);
  return zt::bench::RunForkedRanks(
      a.world, "checkpoint_bench", [&a](int rank, const std::string& dir) { return RunRank(rank, a, dir); });
}
