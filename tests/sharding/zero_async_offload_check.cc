#include "tests/sharding/zero_async_offload_check.h"

#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "sharding/zero/zero_engine.h"
#include "tests/sharding/zero_test_model.h"

namespace zt::sharding::testing {
namespace {

constexpr int kSteps = 4;
constexpr int64_t kAccumulation = 2;

MlpSpec Spec() { return MlpSpec{6, 12, 4, 4, at::kFloat}; }

TrainSpec Train() {
  TrainSpec train;
  train.steps = kSteps;
  train.micro_batch = 2;
  train.gradient_accumulation_steps = kAccumulation;
  train.gradient_clipping = 0.5;
  train.optimizer.lr = 1e-2;
  train.optimizer.weight_decay = 0.05;
  return train;
}

ZeroEngineOptions Options(int stage, bool async) {
  const TrainSpec train = Train();
  ZeroEngineOptions options;
  options.stage = stage;
  options.reduce_bucket_numel = 40;  // a bucket per weight, biases packed together
  options.offload.offload = true;
  options.async_offload_step = async;
  options.gradient_clipping = train.gradient_clipping;
  options.optimizer = train.optimizer;
  return options;
}

// MlpForward's arithmetic, waiting for each layer's parameters first when `engine` is given.
at::Tensor Forward(ZeroEngine* engine, const std::vector<NamedParameter>& params,
                   const at::Tensor& x) {
  at::Tensor h = x;
  const size_t layers = params.size() / 2;
  for (size_t i = 0; i < layers; ++i) {
    if (engine != nullptr) {
      EXPECT_TRUE(engine->WaitForParameters(params[2 * i].name).ok());
      EXPECT_TRUE(engine->WaitForParameters(params[2 * i + 1].name).ok());
    }
    h = at::addmm(params[2 * i + 1].tensor, h, params[2 * i].tensor.t());
    if (i + 1 < layers) h = at::tanh(h);
  }
  return h;
}

// One optimizer step (kAccumulation micro-steps) on this rank's share of the global batch.
void TrainStep(ZeroEngine& engine, const std::vector<NamedParameter>& params, bool wait,
               int step, int rank, int world) {
  const TrainSpec train = Train();
  Batch batch = GlobalBatch(Spec(), train, world, step);
  for (int64_t g = 0; g < kAccumulation; ++g) {
    const int64_t start = (g * world + rank) * train.micro_batch;
    at::Tensor x = batch.x.narrow(0, start, train.micro_batch);
    at::Tensor y = batch.y.narrow(0, start, train.micro_batch);
    at::Tensor loss = (Forward(wait ? &engine : nullptr, params, x) - y).pow(2).mean();
    absl::Status backward = engine.Backward(loss / kAccumulation, g + 1 == kAccumulation);
    ASSERT_TRUE(backward.ok()) << backward;
  }
  absl::StatusOr<StepResult> result = engine.Step();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->applied);
}

}  // namespace

void ExpectAsyncOffloadStepMatchesSync(std::shared_ptr<Communicator> comm, int stage) {
  SCOPED_TRACE(absl::StrCat("stage ", stage, " world ", comm->Size()));
  std::vector<NamedParameter> sync_params = MakeMlp(Spec());
  std::vector<NamedParameter> async_params = MakeMlp(Spec());
  auto sync = ZeroEngine::Create(DecayParameterGroups(sync_params), Options(stage, false), comm);
  ASSERT_TRUE(sync.ok()) << sync.status();
  auto async = ZeroEngine::Create(DecayParameterGroups(async_params), Options(stage, true), comm);
  ASSERT_TRUE(async.ok()) << async.status();
  ZeroEngine& engine = **async;
  ASSERT_EQ(engine.NumUpdateBuckets(), (*sync)->NumUpdateBuckets());
  ASSERT_GE(engine.NumUpdateBuckets(), 4);
  // Update order is forward order: each update bucket's earliest parameter comes after the
  // previous bucket's earliest one (the biases share one bucket; their bucket goes where the
  // first bias is used).
  std::vector<int> earliest(engine.NumUpdateBuckets(), -1);
  for (int i = 0; i < static_cast<int>(async_params.size()); ++i) {
    absl::StatusOr<int> bucket = engine.UpdateBucketOf(async_params[i].name);
    ASSERT_TRUE(bucket.ok()) << bucket.status();
    if (earliest[*bucket] < 0) earliest[*bucket] = i;
  }
  for (int u = 1; u < engine.NumUpdateBuckets(); ++u) {
    EXPECT_GT(earliest[u], earliest[u - 1]) << "update bucket " << u;
  }
  EXPECT_EQ(*engine.UpdateBucketOf("layers.0.weight"), 0);
  EXPECT_EQ(*engine.UpdateBucketOf("layers.0.bias"), 1);

  const int last = engine.NumUpdateBuckets() - 1;
  for (int step = 0; step < kSteps; ++step) {
    TrainStep(**sync, sync_params, false, step, comm->Rank(), comm->Size());
    TrainStep(engine, async_params, true, step, comm->Rank(), comm->Size());
    // Bucket 0 is done once its wait returns, and with it every bucket before it (none).
    ASSERT_TRUE(engine.WaitForParameters(0).ok());
    EXPECT_EQ(engine.BucketUpdates(0), step + 1);
    ASSERT_TRUE(engine.WaitForParameters(last - 1).ok());
    for (int u = 0; u < last; ++u) EXPECT_EQ(engine.BucketUpdates(u), step + 1) << "bucket " << u;
    ASSERT_TRUE(engine.WaitForAllParameters().ok());
    EXPECT_EQ(engine.BucketUpdates(last), step + 1);
    // This step's completions, in update order, after the previous step's.
    for (int u = 1; u <= last; ++u) {
      EXPECT_EQ(engine.BucketUpdateSequence(u), engine.BucketUpdateSequence(u - 1) + 1);
    }
    EXPECT_EQ(engine.BucketUpdateSequence(0), step * (last + 1) + 1);
    for (size_t i = 0; i < sync_params.size(); ++i) {
      EXPECT_TRUE(at::equal(async_params[i].tensor, sync_params[i].tensor))
          << sync_params[i].name << " after step " << step;
    }
  }
  EXPECT_GT((async_params[0].tensor - MakeMlp(Spec())[0].tensor).abs().max().item<float>(), 0);
}

}  // namespace zt::sharding::testing
