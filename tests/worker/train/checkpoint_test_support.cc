#include "tests/worker/train/checkpoint_test_support.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sharding/collectives/file_store.h"
#include "sharding/collectives/in_memory_store.h"
#include "sharding/collectives/prefix_store.h"
#include "tests/sharding/zero3_test_model.h"
#include "worker/io/safetensors_file.h"

namespace zt::worker::train::testing {

using sharding::NamedParameter;
using sharding::ZeroEngine;

TrainSpec DefaultTrain() {
  TrainSpec train;
  train.micro_batch = 2;
  train.gradient_accumulation_steps = 2;
  train.optimizer.lr = 1e-2;
  train.optimizer.weight_decay = 0.05;
  train.gradient_clipping = 1.0;
  sharding::WarmupLrParams warmup;
  warmup.warmup_max_lr = 1e-2;
  warmup.warmup_num_steps = 5;
  warmup.warmup_type = sharding::WarmupType::kLinear;
  train.scheduler = std::shared_ptr<const sharding::LrScheduler>(*sharding::MakeWarmupLr(warmup));
  return train;
}

Run MakeRun(const MlpSpec& spec, const TrainSpec& train, int stage, int64_t bucket,
            std::shared_ptr<sharding::Communicator> comm, bool offload, bool async_step) {
  Run run;
  run.params = sharding::testing::MakeMlp(spec);
  if (stage == 3) {
    run.zero3 = sharding::testing::PartitionMlp(run.params, std::move(comm));
    sharding::Zero3OptimizerOptions options;
    options.gradient_clipping = train.gradient_clipping;
    options.optimizer = train.optimizer;
    options.scheduler = train.scheduler;
    options.offload.offload = offload;
    options.hf_decay_groups = false;
    absl::StatusOr<std::unique_ptr<sharding::Zero3Optimizer>> optimizer =
        sharding::Zero3Optimizer::Create(run.zero3.get(), options);
    EXPECT_TRUE(optimizer.ok()) << optimizer.status();
    if (optimizer.ok()) run.zero3_optimizer = std::move(*optimizer);
    return run;
  }
  sharding::ZeroEngineOptions options;
  options.stage = stage;
  options.reduce_bucket_numel = bucket;
  options.gradient_clipping = train.gradient_clipping;
  options.optimizer = train.optimizer;
  options.scheduler = train.scheduler;
  if (spec.dtype == at::kBFloat16) options.precision = sharding::Precision::kBf16;
  options.offload.offload = offload;
  options.async_offload_step = async_step;
  absl::StatusOr<std::unique_ptr<ZeroEngine>> engine = ZeroEngine::Create(
      {sharding::ParameterGroup{run.params, std::nullopt}}, options, std::move(comm));
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (engine.ok()) run.engine = std::move(*engine);
  return run;
}

std::vector<sharding::StepResult> TrainSteps(Run& run, const MlpSpec& spec, const TrainSpec& train,
                                             int rank, int world, int from, int to) {
  std::vector<sharding::StepResult> out;
  const int64_t mb = train.micro_batch;
  for (int step = from; step < to; ++step) {
    sharding::testing::Batch batch = sharding::testing::GlobalBatch(spec, train, world, step);
    const int64_t gas = train.gradient_accumulation_steps;
    for (int64_t g = 0; g < gas; ++g) {
      const int64_t start = (g * world + rank) * mb;
      at::Tensor x = batch.x.narrow(0, start, mb), y = batch.y.narrow(0, start, mb);
      at::Tensor prediction;
      if (run.zero3 != nullptr) {
        prediction = sharding::testing::Zero3MlpForward(*run.zero3, x);
      } else {
        absl::Status ready = run.engine->WaitForAllParameters();
        EXPECT_TRUE(ready.ok()) << ready;
        prediction = sharding::testing::MlpForward(run.params, x);
      }
      at::Tensor loss = (prediction - y).pow(2).mean() / gas;
      absl::Status backward = run.training().Backward(loss, /*last_micro_batch=*/g + 1 == gas);
      EXPECT_TRUE(backward.ok()) << backward;
      if (!backward.ok()) return out;
    }
    absl::StatusOr<sharding::StepResult> r = run.training().Step();
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return out;
    out.push_back(*r);
  }
  return out;
}

std::vector<NamedParameter> Run::FullParams() {
  return zero3 != nullptr ? sharding::testing::GatheredMlp(*zero3) : params;
}

std::map<std::string, at::Tensor> GatherState(sharding::TrainingEngine& engine,
                                              sharding::Communicator& comm) {
  std::map<std::string, at::Tensor> out;
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const sharding::TrainingEngine::StateGroupLayout& g : engine.StateLayout()) {
    for (size_t i = 0; i < g.names.size(); ++i) {
      int64_t numel = 1;
      for (int64_t d : g.shapes[i]) numel *= d;
      for (const char* kind : {"fp32", "exp_avg", "exp_avg_sq"}) {
        out[absl::StrCat(g.names[i], "/", kind)] = at::zeros({numel}, at::dtype(g.master_dtype));
      }
    }
  }
  absl::StatusOr<std::vector<sharding::TrainingEngine::StateSlice>> slices = engine.StateSlices();
  EXPECT_TRUE(slices.ok()) << slices.status();
  // At stage 0 every rank holds everything: only rank 0 contributes.
  const bool contribute = engine.StateCountersNow().partition_world > 1 || comm.Rank() == 0;
  for (const sharding::TrainingEngine::StateSlice& s : *slices) {
    if (!contribute) break;
    out[s.name + "/fp32"].narrow(0, s.offset, s.numel).copy_(s.master);
    out[s.name + "/exp_avg"].narrow(0, s.offset, s.numel).copy_(s.exp_avg);
    out[s.name + "/exp_avg_sq"].narrow(0, s.offset, s.numel).copy_(s.exp_avg_sq);
  }
  for (auto& [name, t] : out) {
    if (comm.Size() == 1) continue;
    absl::StatusOr<std::unique_ptr<sharding::Work>> work =
        comm.AllReduce(t, sharding::ReduceOp::kSum);
    EXPECT_TRUE(work.ok()) << work.status();
    absl::Status waited = (*work)->Wait(absl::Now() + absl::Seconds(60));
    EXPECT_TRUE(waited.ok()) << waited;
  }
  return out;
}

void ExpectBitwiseEqual(const std::map<std::string, at::Tensor>& a,
                        const std::map<std::string, at::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    ASSERT_NE(it, b.end()) << name;
    EXPECT_TRUE(at::equal(t, it->second)) << name << " differs; max |diff| "
                                          << (t - it->second).abs().max().item<double>();
  }
}

void WriteBaseModel(const std::string& dir, const std::vector<NamedParameter>& params,
                    const std::string& model_type) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << nlohmann::json{{"model_type", model_type}}.dump(2);
  io::NamedTensors tensors;
  for (const NamedParameter& p : params) tensors.emplace_back(p.name, p.tensor.detach());
  absl::Status written = io::WriteSafetensors(dir + "/model.safetensors", tensors);
  ASSERT_TRUE(written.ok()) << written;
}

std::shared_ptr<sharding::Store> RankStore(const std::string& job) {
  const char* dir = std::getenv("ZT_TEST_STORE_DIR");
  if (dir == nullptr) return std::make_shared<sharding::InMemoryStore>();
  std::shared_ptr<sharding::Store> base = *sharding::FileStore::Open(dir);
  return std::shared_ptr<sharding::Store>(*sharding::JobStore(base, job, 0));
}

CheckpointerOptions Options(const std::string& output_dir, const std::string& base, int rank,
                            int world) {
  CheckpointerOptions options;
  options.output_dir = output_dir;
  options.base_model_dir = base;
  options.rank = rank;
  options.world_size = world;
  options.timeout = absl::Seconds(60);
  return options;
}

SaveRequest RequestFor(int64_t step, int rank, int world, int64_t global_batch) {
  SaveRequest request;
  request.step = step;
  request.trainer_state = {{"global_step", step}, {"log_history", nlohmann::json::array()}};
  request.client_state = {{"sampler", {{"epoch", 0}, {"global_sample_index", step * global_batch}}},
                          {"world_size", world}};
  request.rank_state = {{"rng_seed", 1000 + rank}, {"step", step}};
  return request;
}

}  // namespace zt::worker::train::testing
