// A save killed with SIGKILL (the child process kills itself at a named point of Save) leaves
// the previous checkpoint the newest complete one until the rename commits the new one; the
// leftover .tmp-<step> is never picked by "auto" and is cleaned up by the next save; whatever
// survived loads.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "sharding/collectives/in_memory_store.h"
#include "sharding/collectives/self_communicator.h"
#include "tests/support/rank_processes.h"
#include "tests/support/temp_dir.h"
#include "tests/worker/train/checkpoint_test_support.h"
#include "worker/train/checkpoint_files.h"
#include "worker/train/checkpoint_rotation.h"

namespace zt::worker::train {
namespace {

namespace fs = std::filesystem;

const testing::MlpSpec kSpec{6, 12, 4, 3, at::kFloat};

CheckpointerOptions OptionsIn(const std::string& root) {
  return testing::Options(root + "/out", root + "/base", 0, 1);
}

// The child: checkpoint-1 completes, the save of checkpoint-2 dies at ZT_TEST_KILL_AT.
void SaveAndDie(const std::string& root, const std::string& kill_at) {
  auto comm = std::make_shared<sharding::SelfCommunicator>();
  CheckpointerOptions options = OptionsIn(root);
  auto armed = std::make_shared<bool>(false);  // only during the second save
  options.phase_hook = [kill_at, armed](absl::string_view phase) {
    if (*armed && phase == kill_at) std::raise(SIGKILL);
  };
  Checkpointer ckpt(options, std::make_shared<sharding::InMemoryStore>());
  testing::Run run = testing::MakeRun(kSpec, testing::DefaultTrain(), 2, 40, comm);
  testing::TrainSteps(run, kSpec, testing::DefaultTrain(), 0, 1, 0, 1);
  ASSERT_TRUE(ckpt.Save(*run.engine, testing::RequestFor(1, 0, 1, 4)).ok());
  testing::TrainSteps(run, kSpec, testing::DefaultTrain(), 0, 1, 1, 2);
  *armed = true;
  (void)ckpt.Save(*run.engine, testing::RequestFor(2, 0, 1, 4));
  ADD_FAILURE() << "the save of checkpoint-2 was not killed at " << kill_at;
}

TEST(CheckpointCrashTest, SigkillDuringSaveLeavesTheNewestCompleteCheckpoint) {
  if (zt::testing::ChildRank()) {
    SaveAndDie(std::getenv("ZT_TEST_CHECKPOINT_ROOT"), std::getenv("ZT_TEST_KILL_AT"));
    return;
  }
  struct Case {
    const char* kill_at;
    int newest;        // the step "auto" resumes from afterwards
    bool tmp_left;     // .tmp-2 still there
  };
  for (const Case& c : {Case{"state_written", 1, true}, Case{"manifest_written", 1, true},
                        Case{"renamed", 2, false}}) {
    SCOPED_TRACE(c.kill_at);
    zt::testing::TempDir dir;
    testing::WriteBaseModel(dir.Join("base"), sharding::testing::MakeMlp(kSpec));
    absl::StatusOr<std::vector<zt::testing::RankResult>> results = zt::testing::RunRanks(
        1, absl::Seconds(60),
        {"ZT_TEST_CHECKPOINT_ROOT=" + dir.path(), absl::StrCat("ZT_TEST_KILL_AT=", c.kill_at)});
    ASSERT_TRUE(results.ok()) << results.status();
    EXPECT_EQ((*results)[0].signal, SIGKILL) << (*results)[0].output;

    const std::string out = dir.Join("out");
    EXPECT_EQ(fs::exists(out + "/.tmp-2"), c.tmp_left);
    absl::StatusOr<std::optional<std::string>> from = ResolveResumeCheckpoint(out, "auto");
    ASSERT_TRUE(from.ok()) << from.status();
    EXPECT_EQ(from->value_or(""), absl::StrCat(out, "/checkpoint-", c.newest));
    // Killed after the rename, before `latest` was replaced: it still names checkpoint-1.
    EXPECT_EQ(*ReadWholeFile(out + "/latest"), "checkpoint-1");

    auto comm = std::make_shared<sharding::SelfCommunicator>();
    Checkpointer ckpt(OptionsIn(dir.path()), std::make_shared<sharding::InMemoryStore>());
    testing::Run run = testing::MakeRun(kSpec, testing::DefaultTrain(), 2, 40, comm);
    absl::StatusOr<LoadedCheckpoint> loaded = ckpt.Load(*run.engine, **from);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(run.engine->StateCountersNow().applied_steps, c.newest);
    // The next save replaces the leftovers.
    testing::TrainSteps(run, kSpec, testing::DefaultTrain(), 0, 1, c.newest, 3);
    ASSERT_TRUE(ckpt.Save(*run.engine, testing::RequestFor(3, 0, 1, 4)).ok());
    EXPECT_FALSE(fs::exists(out + "/.tmp-2"));
    EXPECT_EQ(*ReadWholeFile(out + "/latest"), "checkpoint-3");
  }
}

}  // namespace
}  // namespace zt::worker::train
