// The asynchronous offload step at world size 1 (bucket_update_worker.h): bitwise the synchronous
// step at stages 0-2 with the per-bucket completion counters in forward order
// (zero_async_offload_check.h), the API's errors by name, and a failed all-gather on the worker
// thread returned by every later wait, Backward and Step.
#include <gtest/gtest.h>

#include <memory>

#include "sharding/collectives/self_communicator.h"
#include "sharding/zero/zero_engine.h"
#include "sharding/zero/zero_engine_readiness.h"
#include "tests/sharding/zero_async_offload_check.h"
#include "tests/sharding/zero_test_model.h"

namespace zt::sharding {
namespace {

// Rank 0 of two whose peer is gone: reductions keep this rank's own values, every all-gather
// fails when waited for (as a collective whose peer died).
class LostPeerCommunicator final : public Communicator {
 public:
  int Rank() const override { return 0; }
  int Size() const override { return 2; }
  std::string BackendName() const override { return "lost-peer"; }
  absl::StatusOr<std::unique_ptr<Work>> AllReduce(at::Tensor, ReduceOp) override {
    return CompletedWork();
  }
  absl::StatusOr<std::unique_ptr<Work>> ReduceScatter(at::Tensor input, at::Tensor output,
                                                      ReduceOp) override {
    output.copy_(input.narrow(0, 0, output.numel()));
    return CompletedWork();
  }
  absl::StatusOr<std::unique_ptr<Work>> AllGather(at::Tensor, at::Tensor) override {
    return CompletedWork(absl::UnavailableError("all_gather: rank 1 closed the connection"));
  }
  absl::StatusOr<std::unique_ptr<Work>> Broadcast(at::Tensor, int) override {
    return CompletedWork();
  }
  absl::StatusOr<std::unique_ptr<Work>> Barrier() override { return CompletedWork(); }
  void Abort(absl::Status) override {}
};

TEST(ZeroEngineAsyncTest, AsyncOffloadStepIsBitwiseTheSyncStepAtWorldSizeOne) {
  for (int stage : {0, 1, 2}) {
    testing::ExpectAsyncOffloadStepMatchesSync(std::make_shared<SelfCommunicator>(), stage);
  }
}

TEST(ZeroEngineAsyncTest, AsyncNeedsOffloadAndNamesUnknownParametersAndBuckets) {
  std::vector<NamedParameter> params = testing::MakeMlp(testing::MlpSpec{});
  ZeroEngineOptions options;
  options.stage = 2;
  options.async_offload_step = true;
  auto comm = std::make_shared<SelfCommunicator>();
  absl::StatusOr<std::unique_ptr<ZeroEngine>> rejected =
      ZeroEngine::Create(DecayParameterGroups(params), options, comm);
  ASSERT_EQ(rejected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rejected.status().message(),
            "zero engine: async_offload_step needs zero_optimization.offload_optimizer.device "
            "\"cpu\" (it overlaps the CPU optimizer step with the next forward)");

  options.offload.offload = true;
  absl::StatusOr<std::unique_ptr<ZeroEngine>> engine =
      ZeroEngine::Create(DecayParameterGroups(params), options, comm);
  ASSERT_TRUE(engine.ok()) << engine.status();
  absl::StatusOr<int> missing = (*engine)->UpdateBucketOf("layers.9.weight");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "zero engine: no trainable parameter named 'layers.9.weight'");
  absl::Status out_of_range = (*engine)->WaitForParameters(2);
  EXPECT_EQ(out_of_range.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(out_of_range.message(), "zero engine: update bucket 2; expected 0 to 1");
  // Nothing in flight: every wait returns at once.
  EXPECT_TRUE((*engine)->WaitForParameters("layers.0.bias").ok());
  EXPECT_TRUE((*engine)->WaitForAllParameters().ok());
}

// Stage 2 with the asynchronous offload step over `params`, its peer gone.
absl::StatusOr<std::unique_ptr<ZeroEngine>> AsyncEngineWithLostPeer(
    std::vector<NamedParameter>& params) {
  ZeroEngineOptions options;
  options.stage = 2;
  options.offload.offload = true;
  options.async_offload_step = true;
  return ZeroEngine::Create(DecayParameterGroups(params), options,
                            std::make_shared<LostPeerCommunicator>());
}

TEST(ZeroEngineAsyncTest, AWorkerErrorIsReturnedByEveryLaterWaitBackwardAndStep) {
  std::vector<NamedParameter> params = testing::MakeMlp(testing::MlpSpec{});
  absl::StatusOr<std::unique_ptr<ZeroEngine>> engine = AsyncEngineWithLostPeer(params);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto loss = [&] { return testing::MlpForward(params, at::randn({2, 6}, at::kDouble)).sum(); };
  ASSERT_TRUE((*engine)->Backward(loss(), /*last_micro_batch=*/true).ok());
  absl::StatusOr<StepResult> step = (*engine)->Step();  // the failing all-gathers run after it
  ASSERT_TRUE(step.ok()) << step.status();
  const std::string expected =
      "asynchronous offload step: all_gather: rank 1 closed the connection";
  absl::Status first = (*engine)->WaitForParameters(0);
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(first.message(), expected);
  EXPECT_EQ((*engine)->BucketUpdates(0), 0);  // its all-gather never completed
  EXPECT_EQ((*engine)->WaitForAllParameters(), first);
  EXPECT_EQ((*engine)->WaitForParameters("layers.2.bias"), first);
  EXPECT_EQ((*engine)->Backward(loss(), /*last_micro_batch=*/true), first);
  EXPECT_EQ((*engine)->Step().status(), first);
}

TEST(ZeroEngineAsyncTest, DecayGroupsFollowTheTrainersRuleInForwardOrder) {
  std::vector<NamedParameter> params = testing::MakeMlp(testing::MlpSpec{});  // 3 layers
  std::vector<ParameterGroup> groups = DecayParameterGroups(params);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_FALSE(groups[0].weight_decay.has_value());
  EXPECT_EQ(groups[0].params[1].name, "layers.1.weight");
  EXPECT_EQ(groups[0].forward_positions, (std::vector<int>{0, 2, 4}));
  EXPECT_EQ(groups[1].weight_decay, 0.0);
  EXPECT_EQ(groups[1].forward_positions, (std::vector<int>{1, 3, 5}));
}

// The forward's waits (zero_engine_readiness.h): each unit waits for the last update bucket
// holding one of its trainable parameters (names the engine does not train are ignored; a unit
// without any waits for nothing), and a failed step surfaces as a c10::Error in the forward.
TEST(ZeroEngineAsyncTest, ReadinessWaitsPerUnitForItsOwnBucketsAndThrowsTheWorkersError) {
  std::vector<NamedParameter> params = testing::MakeMlp(testing::MlpSpec{});
  absl::StatusOr<std::unique_ptr<ZeroEngine>> engine = AsyncEngineWithLostPeer(params);
  ASSERT_TRUE(engine.ok()) << engine.status();
  ASSERT_EQ((*engine)->NumUpdateBuckets(), 2);
  const int first = *(*engine)->UpdateBucketOf("layers.0.weight");
  const int last = *(*engine)->UpdateBucketOf("layers.2.bias");
  std::unique_ptr<ZeroEngineReadiness> readiness = ZeroEngineReadiness::Create(
      engine->get(), {{"embedding.frozen"}, {"layers.0.weight", "frozen.norm"},
                      {"layers.0.bias", "layers.2.bias"}});
  EXPECT_EQ(readiness->BucketOf(0), -1);
  EXPECT_EQ(readiness->BucketOf(1), first);
  EXPECT_EQ(readiness->BucketOf(2), std::max(first, last));
  EXPECT_EQ(readiness->BucketOf(3), -1);
  readiness->WaitForUnit(1);  // nothing in flight
  auto loss = [&] { return testing::MlpForward(params, at::randn({2, 6}, at::kDouble)).sum(); };
  ASSERT_TRUE((*engine)->Backward(loss(), /*last_micro_batch=*/true).ok());
  ASSERT_TRUE((*engine)->Step().ok());
  readiness->WaitForUnit(0);  // a frozen unit does not wait, nor fail
  try {
    readiness->WaitForUnit(1);
    ADD_FAILURE() << "expected the worker's error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("the optimizer step updating unit 1's parameters failed: "
                                         "UNAVAILABLE: asynchronous offload step: all_gather"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace zt::sharding
