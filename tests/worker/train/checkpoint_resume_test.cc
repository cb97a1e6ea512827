// Resuming partitioned checkpoints across real Gloo ranks (issue #8): on the same world size the
// continuation is bitwise identical (parameters, master, moments, lr, sampler and RNG state the
// caller stored) at stages 0, 1 and 2; saved at W = 4 and loaded at W = 2 (and 2 -> 4, across
// stages 2 <-> 1) the gathered master and both moments equal the saved ones bitwise and the
// sampler continues from the same global sample index; an output_dir that is not shared is
// refused unless save_on_each_node, which keeps each node's files in its own folder.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "sharding/collectives/gloo_communicator.h"
#include "sharding/collectives/in_memory_store.h"
#include "sharding/collectives/self_communicator.h"
#include "tests/sharding/gloo_test_ranks.h"
#include "tests/support/rank_processes.h"
#include "tests/support/temp_dir.h"
#include "tests/worker/train/checkpoint_test_support.h"
#include "worker/io/safetensors_file.h"
#include "worker/train/checkpoint_rotation.h"

namespace zt::worker::train {
namespace {

namespace fs = std::filesystem;
using testing::MlpSpec;
using testing::TrainSpec;

constexpr int64_t kBucket = 40;  // several buckets over the 292-element MLP

MlpSpec Spec() { return MlpSpec{6, 12, 4, 3, at::kFloat}; }

// The folder the parent created for this run (beside the Gloo store folder).
std::string RunFolder() {
  const char* store = std::getenv("ZT_TEST_STORE_DIR");
  return fs::path(store == nullptr ? "" : store).parent_path().string();
}

int64_t GlobalBatch(const TrainSpec& train, int world) {
  return train.micro_batch * train.gradient_accumulation_steps * world;
}

void SameWorldSizeRank(int rank, int world) {
  std::shared_ptr<sharding::Communicator> comm =
      sharding::testing::ConnectGlooRank(rank, "checkpoint-resume");
  ASSERT_NE(comm, nullptr);
  const std::string root = RunFolder();
  const std::string base = root + "/base";
  const MlpSpec spec = Spec();
  const TrainSpec train = testing::DefaultTrain();
  if (rank == 0) testing::WriteBaseModel(base, sharding::testing::MakeMlp(spec));
  ASSERT_TRUE((*comm->Barrier())->Wait(absl::Now() + absl::Seconds(30)).ok());
  for (int stage : {0, 1, 2}) {
    SCOPED_TRACE(absl::StrCat("stage ", stage));
    const std::string out = absl::StrCat(root, "/out-stage", stage);
    Checkpointer saver(testing::Options(out, base, rank, world),
                       testing::RankStore(absl::StrCat("save-", stage)));
    ASSERT_TRUE(saver.CheckSharedOutputDir().ok());
    testing::Run a = testing::MakeRun(spec, train, stage, kBucket, comm);
    ASSERT_NE(a.engine, nullptr);
    testing::TrainSteps(a, spec, train, rank, world, 0, 2);
    absl::StatusOr<std::string> saved =
        saver.Save(*a.engine, testing::RequestFor(2, rank, world, GlobalBatch(train, world)));
    ASSERT_TRUE(saved.ok()) << saved.status();
    EXPECT_EQ(*saved, out + "/checkpoint-2");
    const auto state_at_save = testing::GatherState(*a.engine, *comm);
    const auto results_a = testing::TrainSteps(a, spec, train, rank, world, 2, 4);
    const auto state_a = testing::GatherState(*a.engine, *comm);

    Checkpointer loader(testing::Options(out, base, rank, world),
                        testing::RankStore(absl::StrCat("load-", stage)));
    absl::StatusOr<std::optional<std::string>> from = loader.ResolveResume("auto");
    ASSERT_TRUE(from.ok()) << from.status();
    ASSERT_EQ(from->value_or(""), out + "/checkpoint-2");
    testing::Run b = testing::MakeRun(spec, train, stage, kBucket, comm);
    absl::StatusOr<LoadedCheckpoint> loaded = loader.Load(*b.engine, **from);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_TRUE(loaded->same_world_size);
    EXPECT_EQ(loaded->rank_state, (nlohmann::json{{"rng_seed", 1000 + rank}, {"step", 2}}));
    EXPECT_EQ(loaded->client_state["sampler"]["global_sample_index"], 2 * GlobalBatch(train, world));
    EXPECT_EQ(loaded->trainer_state["global_step"], 2);
    EXPECT_EQ(b.engine->StateCountersNow().applied_steps, 2);
    testing::ExpectBitwiseEqual(testing::GatherState(*b.engine, *comm), state_at_save);

    const auto results_b = testing::TrainSteps(b, spec, train, rank, world, 2, 4);
    ASSERT_EQ(results_a.size(), results_b.size());
    for (size_t i = 0; i < results_a.size(); ++i) {
      EXPECT_EQ(results_a[i].lr, results_b[i].lr);
      EXPECT_EQ(results_a[i].grad_norm, results_b[i].grad_norm);
      EXPECT_EQ(results_a[i].loss_scale, results_b[i].loss_scale);
      EXPECT_EQ(results_a[i].optimizer_step, results_b[i].optimizer_step);
    }
    for (size_t i = 0; i < a.params.size(); ++i) {
      EXPECT_TRUE(at::equal(a.params[i].tensor, b.params[i].tensor)) << a.params[i].name;
    }
    testing::ExpectBitwiseEqual(testing::GatherState(*b.engine, *comm), state_a);
  }
}

TEST(CheckpointResumeTest, SameWorldSizeContinuesBitwiseAtStages0To2) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    SameWorldSizeRank(*rank, zt::testing::ChildWorldSize());
    return;
  }
  sharding::testing::RunGlooRanks(2, absl::Seconds(120));
}

// One rank, in process: bf16 parameters (fp32 masters; the parameters are rebuilt by rounding
// them), the offloaded optimizer (the CPU AdamW kernel writes the bf16 copies) and the
// asynchronous offload step (saved right after a Step() whose update may still run) continue
// bitwise too.
TEST(CheckpointResumeTest, Bf16AndOffloadContinueBitwiseOnOneRank) {
  if (zt::testing::ChildRank()) return;
  struct Case {
    at::ScalarType dtype;
    bool offload;
    bool async_step;
  };
  for (const Case& c : {Case{at::kBFloat16, false, false}, Case{at::kBFloat16, true, false},
                        Case{at::kFloat, true, false}, Case{at::kBFloat16, true, true}}) {
    SCOPED_TRACE(absl::StrCat(c10::toString(c.dtype), " offload ", c.offload, " async ",
                              c.async_step));
    zt::testing::TempDir dir;
    MlpSpec spec = Spec();
    spec.dtype = c.dtype;
    const TrainSpec train = testing::DefaultTrain();
    auto comm = std::make_shared<sharding::SelfCommunicator>();
    testing::WriteBaseModel(dir.Join("base"), sharding::testing::MakeMlp(spec));
    Checkpointer ckpt(testing::Options(dir.Join("out"), dir.Join("base"), 0, 1),
                      std::make_shared<sharding::InMemoryStore>());
    testing::Run a = testing::MakeRun(spec, train, 2, kBucket, comm, c.offload, c.async_step);
    ASSERT_NE(a.engine, nullptr);
    testing::TrainSteps(a, spec, train, 0, 1, 0, 2);
    absl::StatusOr<std::string> saved = ckpt.Save(*a.engine, testing::RequestFor(2, 0, 1, 4));
    ASSERT_TRUE(saved.ok()) << saved.status();
    const auto results_a = testing::TrainSteps(a, spec, train, 0, 1, 2, 4);
    testing::Run b = testing::MakeRun(spec, train, 2, kBucket, comm, c.offload, c.async_step);
    absl::StatusOr<LoadedCheckpoint> loaded = ckpt.Load(*b.engine, *saved);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const auto results_b = testing::TrainSteps(b, spec, train, 0, 1, 2, 4);
    ASSERT_EQ(results_a.size(), results_b.size());
    for (size_t i = 0; i < results_a.size(); ++i) {
      EXPECT_EQ(results_a[i].grad_norm, results_b[i].grad_norm);
    }
    ASSERT_TRUE(a.engine->WaitForAllParameters().ok());
    ASSERT_TRUE(b.engine->WaitForAllParameters().ok());
    for (size_t i = 0; i < a.params.size(); ++i) {
      EXPECT_EQ(a.params[i].tensor.scalar_type(), c.dtype);
      EXPECT_TRUE(at::equal(a.params[i].tensor, b.params[i].tensor)) << a.params[i].name;
    }
    testing::ExpectBitwiseEqual(testing::GatherState(*b.engine, *comm),
                                testing::GatherState(*a.engine, *comm));
  }
}

// One phase of the re-partitioning chain: optionally loads out-<ZT_TEST_LOAD> (saved at another
// world size and stage) and checks it against the state gathered when it was saved, then
// optionally trains 3 steps and saves out-<ZT_TEST_SAVE> with its gathered state as
// reference-<ZT_TEST_SAVE>.safetensors; without a save it trains one more step.
void RepartitionRank(int rank, int world) {
  std::shared_ptr<sharding::Communicator> comm =
      sharding::testing::ConnectGlooRank(rank, "checkpoint-repartition");
  ASSERT_NE(comm, nullptr);
  const std::string root = std::getenv("ZT_TEST_CHECKPOINT_ROOT");
  const std::string load = std::getenv("ZT_TEST_LOAD"), save = std::getenv("ZT_TEST_SAVE");
  const int stage = std::atoi(std::getenv("ZT_TEST_STAGE"));
  const std::string base = root + "/base";
  const MlpSpec spec = Spec();
  const TrainSpec train = testing::DefaultTrain();
  testing::Run run = testing::MakeRun(spec, train, stage, kBucket, comm);
  ASSERT_TRUE(run.engine != nullptr || run.zero3_optimizer != nullptr);
  int step = 0;
  if (load.empty()) {
    if (rank == 0) testing::WriteBaseModel(base, run.params);
  } else {
    Checkpointer ckpt(testing::Options(root + "/out-" + load, base, rank, world),
                      testing::RankStore("load"));
    absl::StatusOr<std::optional<std::string>> from = ckpt.ResolveResume("auto");
    ASSERT_TRUE(from.ok() && from->has_value()) << from.status();
    absl::StatusOr<LoadedCheckpoint> loaded = ckpt.Load(run.training(), **from);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_FALSE(loaded->same_world_size);
    EXPECT_TRUE(loaded->rank_state.is_null());
    const int saved_world = loaded->manifest.world_size;
    EXPECT_NE(saved_world, world);
    EXPECT_NE(loaded->manifest.stage, stage);
    step = static_cast<int>(loaded->manifest.step);
    // The sampler continues from the same global sample index (the caller re-cuts it per rank).
    EXPECT_EQ(loaded->client_state["sampler"]["global_sample_index"],
              step * GlobalBatch(train, saved_world));
    std::map<std::string, at::Tensor> expected;
    std::shared_ptr<io::SafetensorsFile> file =
        *io::SafetensorsFile::Open(root + "/reference-" + load + ".safetensors");
    for (const std::string& name : file->Names()) expected[name] = *file->Get(name);
    testing::ExpectBitwiseEqual(testing::GatherState(run.training(), *comm), expected);
    // The model's parameters are the masters (fp32 training: equal bits).
    for (const sharding::NamedParameter& p : run.FullParams()) {
      EXPECT_TRUE(at::equal(p.tensor.detach().flatten(), expected.at(p.name + "/fp32")))
          << p.name;
    }
  }
  if (save.empty()) {
    const auto more = testing::TrainSteps(run, spec, train, rank, world, step, step + 1);
    ASSERT_EQ(more.size(), 1u);
    EXPECT_EQ(more[0].optimizer_step, step + 1);
    return;
  }
  Checkpointer ckpt(testing::Options(root + "/out-" + save, base, rank, world),
                    testing::RankStore("save"));
  ASSERT_TRUE(ckpt.CheckSharedOutputDir().ok());
  testing::TrainSteps(run, spec, train, rank, world, step, step + 3);
  absl::StatusOr<std::string> saved = ckpt.Save(
      run.training(), testing::RequestFor(step + 3, rank, world, GlobalBatch(train, world)));
  ASSERT_TRUE(saved.ok()) << saved.status();
  const auto state = testing::GatherState(run.training(), *comm);
  if (rank == 0) {
    io::NamedTensors tensors(state.begin(), state.end());
    ASSERT_TRUE(io::WriteSafetensors(root + "/reference-" + save + ".safetensors", tensors).ok());
  }
}

// W = 4 at stage 2 saves; W = 2 at stage 3 loads it, trains and saves; W = 4 at stage 1 loads
// that: 4 -> 2 and 2 -> 4, and stage 2 -> 3 -> 1 (flat pieces to per-parameter pieces and
// back), in three launches.
TEST(CheckpointResumeTest, RepartitionsFourToTwoAndTwoToFourAcrossStagesBitwise) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    RepartitionRank(*rank, zt::testing::ChildWorldSize());
    return;
  }
  struct Phase {
    int world, stage;
    const char* load;
    const char* save;
  };
  zt::testing::TempDir dir;
  int n = 0;
  for (const Phase& p : {Phase{4, 2, "", "a"}, Phase{2, 3, "a", "b"}, Phase{4, 1, "b", ""}}) {
    SCOPED_TRACE(absl::StrCat("W ", p.world, " stage ", p.stage, " load '", p.load, "' save '",
                              p.save, "'"));
    zt::testing::ExpectRanksSucceed(zt::testing::RunRanks(
        p.world, absl::Seconds(120),
        {"ZT_TEST_CHECKPOINT_ROOT=" + dir.path(),
         absl::StrCat("ZT_TEST_STORE_DIR=", dir.Join("store-"), n++),
         absl::StrCat("ZT_TEST_STAGE=", p.stage), absl::StrCat("ZT_TEST_LOAD=", p.load),
         absl::StrCat("ZT_TEST_SAVE=", p.save)}));
  }
}

// Each rank writes into its own folder, as two nodes without a shared filesystem would.
void OutputDirRank(int rank, int world) {
  std::shared_ptr<sharding::Communicator> comm =
      sharding::testing::ConnectGlooRank(rank, "checkpoint-output-dir");
  ASSERT_NE(comm, nullptr);
  const std::string root = RunFolder();
  const std::string base = root + "/base";
  const std::string node_dir = absl::StrCat(root, "/node", rank);
  const MlpSpec spec = Spec();
  const TrainSpec train = testing::DefaultTrain();
  if (rank == 0) testing::WriteBaseModel(base, sharding::testing::MakeMlp(spec));

  CheckpointerOptions options = testing::Options(node_dir, base, rank, world);
  options.node = rank;
  Checkpointer unshared(options, testing::RankStore("unshared"));
  absl::Status refused = unshared.CheckSharedOutputDir();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("output_dir is not shared across nodes"), std::string::npos)
      << refused;
  EXPECT_NE(refused.message().find("ranks 1 (node 1)"), std::string::npos) << refused;

  options.save_on_each_node = true;
  Checkpointer per_node(options, testing::RankStore("per-node"));
  ASSERT_TRUE(per_node.CheckSharedOutputDir().ok());
  testing::Run a = testing::MakeRun(spec, train, 2, kBucket, comm);
  testing::TrainSteps(a, spec, train, rank, world, 0, 1);
  absl::StatusOr<std::string> saved =
      per_node.Save(*a.engine, testing::RequestFor(1, rank, world, GlobalBatch(train, world)));
  ASSERT_TRUE(saved.ok()) << saved.status();
  // Each node holds its own rank's partition, its own manifest (listing both) and trainer state.
  const std::string mine = absl::StrCat(node_dir, "/checkpoint-1/zero/rank_0000", rank, ".safetensors");
  const std::string other =
      absl::StrCat(node_dir, "/checkpoint-1/zero/rank_0000", 1 - rank, ".safetensors");
  EXPECT_TRUE(fs::exists(mine));
  EXPECT_FALSE(fs::exists(other));
  absl::StatusOr<CheckpointManifest> manifest = ReadManifest(node_dir + "/checkpoint-1");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_TRUE(manifest->save_on_each_node);
  EXPECT_EQ(manifest->rank_nodes, (std::vector<int>{0, 1}));
  ASSERT_NE(manifest->FindFile("zero/rank_00001.safetensors", 1), nullptr);
  ASSERT_NE(manifest->FindFile("trainer_state.json", 0), nullptr);
  ASSERT_NE(manifest->FindFile("trainer_state.json", 1), nullptr);
  const auto state = testing::GatherState(*a.engine, *comm);

  absl::StatusOr<std::optional<std::string>> from = per_node.ResolveResume("auto");
  ASSERT_TRUE(from.ok()) << from.status();
  testing::Run b = testing::MakeRun(spec, train, 2, kBucket, comm);
  absl::StatusOr<LoadedCheckpoint> loaded = per_node.Load(*b.engine, from->value_or(""));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  testing::ExpectBitwiseEqual(testing::GatherState(*b.engine, *comm), state);
}

TEST(CheckpointResumeTest, OutputDirNotSharedIsRefusedUnlessSaveOnEachNode) {
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    OutputDirRank(*rank, zt::testing::ChildWorldSize());
    return;
  }
  sharding::testing::RunGlooRanks(2, absl::Seconds(120));
}

}  // namespace
}  // namespace zt::worker::train
