// Shared pieces of the checkpoint tests: a small ZeRO engine over the tests/sharding MLP, a
// training loop over any range of optimizer steps, the engine's full state gathered in memory
// (independent of the checkpoint format), and a base model folder for fingerprints and export.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "sharding/collectives/communicator.h"
#include "sharding/collectives/store.h"
#include "sharding/zero/training_engine.h"
#include "sharding/zero/zero3_optimizer.h"
#include "sharding/zero/zero3_parameters.h"
#include "sharding/zero/zero_engine.h"
#include "tests/sharding/zero_test_model.h"
#include "worker/train/checkpointer.h"

namespace zt::worker::train::testing {

using sharding::testing::MlpSpec;
using sharding::testing::TrainSpec;

struct Run {
  std::vector<sharding::NamedParameter> params;  // stage 3: placeholders
  std::unique_ptr<sharding::ZeroEngine> engine;  // stages 0-2
  std::unique_ptr<sharding::Zero3Parameters> zero3;  // stage 3
  std::unique_ptr<sharding::Zero3Optimizer> zero3_optimizer;
  sharding::TrainingEngine& training() {
    return engine != nullptr ? static_cast<sharding::TrainingEngine&>(*engine) : *zero3_optimizer;
  }
  // The whole parameters (stage 3: gathered, collective).
  std::vector<sharding::NamedParameter> FullParams();
};

// The MLP (seeded, identical on every rank) under a ZeRO engine (stage 3: zero3_test_model.h,
// weight decay on every tensor as the one-group engine); a bucket of `bucket` elements
// gives several buckets; a WarmupLR schedule makes the lr depend on the step. bf16 parameters
// train with bf16.enabled; `offload` puts the optimizer state on the host (CPU AdamW kernel),
// `async_step` runs its step on the engine's worker thread.
Run MakeRun(const MlpSpec& spec, const TrainSpec& train, int stage, int64_t bucket,
            std::shared_ptr<sharding::Communicator> comm, bool offload = false,
            bool async_step = false);
TrainSpec DefaultTrain();

// Optimizer steps [from, to) of the global batches, this rank's micro-batches, waiting for the
// parameters before every forward (asynchronous steps; the last step's update may still run on
// return). EXPECTs success.
std::vector<sharding::StepResult> TrainSteps(Run& run, const MlpSpec& spec, const TrainSpec& train,
                                             int rank, int world, int from, int to);

// Every parameter's full master / exp_avg / exp_avg_sq: each rank's slices placed into zeros
// and all-reduced (x + 0 is exact), keys "<name>/fp32" etc.
std::map<std::string, at::Tensor> GatherState(sharding::TrainingEngine& engine,
                                              sharding::Communicator& comm);

// Bitwise equality of two gathered states (same keys, equal bits); a failure names the key.
void ExpectBitwiseEqual(const std::map<std::string, at::Tensor>& a,
                        const std::map<std::string, at::Tensor>& b);

// config.json + model.safetensors holding `params` (their names and values) in `dir`.
void WriteBaseModel(const std::string& dir, const std::vector<sharding::NamedParameter>& params,
                    const std::string& model_type = "mlp");

// A FileStore under $ZT_TEST_STORE_DIR scoped to `job` (rank processes), or an InMemoryStore.
std::shared_ptr<sharding::Store> RankStore(const std::string& job);

CheckpointerOptions Options(const std::string& output_dir, const std::string& base, int rank,
                            int world);

// The caller-owned state a trainer would store: sampler position, schedule, RNG.
SaveRequest RequestFor(int64_t step, int rank, int world, int64_t global_batch);

}  // namespace zt::worker::train::testing
