// A checkpoint that is corrupt, partial or from another base model is refused with the file
// named, never resumed silently: one flipped byte in the optimizer state, the trainer state,
// the adapter or the manifest; another base model (both fingerprints named), also one of the same
// shapes with other weights; other trainable parameters; a disk that fills up mid-save (a small
// tmpfs) leaves the previous checkpoint the newest complete one; a damaged newest checkpoint is
// set aside with a note; stale partial saves are removed at start-up.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "sharding/collectives/in_memory_store.h"
#include "sharding/collectives/self_communicator.h"
#include "tests/support/temp_dir.h"
#include "tests/worker/train/checkpoint_test_support.h"
#include "worker/train/checkpoint_files.h"
#include "worker/train/checkpoint_rotation.h"

namespace zt::worker::train {
namespace {

namespace fs = std::filesystem;
using testing::MlpSpec;

void FlipByte(const std::string& path, int64_t from_end) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.is_open()) << path;
  f.seekg(0, std::ios::end);
  const std::streamoff at = static_cast<std::streamoff>(f.tellg()) - from_end;
  f.seekg(at);
  char c = 0;
  f.read(&c, 1);
  c ^= 0x10;
  f.seekp(at);
  f.write(&c, 1);
}

class CheckpointIntegrityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = dir_.Join("base");
    testing::WriteBaseModel(base_, sharding::testing::MakeMlp(spec_));
  }

  testing::Run NewRun() {
    return testing::MakeRun(spec_, testing::DefaultTrain(), 1, 40, comm_);
  }

  std::unique_ptr<Checkpointer> NewCheckpointer(const std::string& out, const std::string& base) {
    return std::make_unique<Checkpointer>(testing::Options(out, base, 0, 1),
                                          std::make_shared<sharding::InMemoryStore>());
  }

  // Trains `steps` and saves checkpoint-<steps> into `out`.
  absl::StatusOr<std::string> TrainAndSave(testing::Run& run, Checkpointer& ckpt, int from,
                                           int to) {
    testing::TrainSteps(run, spec_, testing::DefaultTrain(), 0, 1, from, to);
    return ckpt.Save(*run.engine, testing::RequestFor(to, 0, 1, 4));
  }

  zt::testing::TempDir dir_;
  std::string base_;
  MlpSpec spec_{6, 12, 4, 3, at::kFloat};
  std::shared_ptr<sharding::Communicator> comm_ = std::make_shared<sharding::SelfCommunicator>();
};

TEST_F(CheckpointIntegrityTest, AFlippedByteIsRefusedNamingTheFile) {
  const std::string out = dir_.Join("out");
  for (const std::string file :
       {"zero/rank_00000.safetensors", "trainer_state.json", "manifest.json"}) {
    SCOPED_TRACE(file);
    testing::Run run = NewRun();
    auto ckpt = NewCheckpointer(out, base_);
    absl::StatusOr<std::string> saved = TrainAndSave(run, *ckpt, 0, 2);
    ASSERT_TRUE(saved.ok()) << saved.status();
    FlipByte(*saved + "/" + file, 3);
    testing::Run fresh = NewRun();
    absl::StatusOr<LoadedCheckpoint> loaded = ckpt->Load(*fresh.engine, *saved);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss) << loaded.status();
    EXPECT_NE(loaded.status().message().find(*saved + "/" + file), std::string::npos)
        << loaded.status();
    EXPECT_NE(loaded.status().message().find("corrupt"), std::string::npos) << loaded.status();
    // Nothing was restored: the fresh engine has not stepped.
    EXPECT_EQ(fresh.engine->StateCountersNow().applied_steps, 0);
    if (file == "manifest.json") {
      // A corrupt manifest makes the folder incomplete: "auto" does not pick it, and naming it
      // explicitly is refused.
      EXPECT_FALSE(NewestCompleteCheckpoint(out).has_value());
      absl::StatusOr<std::optional<std::string>> named = ResolveResumeCheckpoint(out, *saved);
      EXPECT_EQ(named.status().code(), absl::StatusCode::kDataLoss) << named.status();
    }
    ASSERT_TRUE(RemoveFolder(out).ok());
  }
}

TEST_F(CheckpointIntegrityTest, ATruncatedStateFileIsRefusedNamingIt) {
  testing::Run run = NewRun();
  auto ckpt = NewCheckpointer(dir_.Join("out"), base_);
  absl::StatusOr<std::string> saved = TrainAndSave(run, *ckpt, 0, 1);
  ASSERT_TRUE(saved.ok()) << saved.status();
  const std::string state = *saved + "/zero/rank_00000.safetensors";
  fs::resize_file(state, fs::file_size(state) / 2);
  testing::Run fresh = NewRun();
  absl::StatusOr<LoadedCheckpoint> loaded = ckpt->Load(*fresh.engine, *saved);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss) << loaded.status();
  EXPECT_NE(loaded.status().message().find(state), std::string::npos) << loaded.status();
}

TEST_F(CheckpointIntegrityTest, AnotherBaseModelIsRefusedNamingBothFingerprints) {
  testing::Run run = NewRun();
  auto ckpt = NewCheckpointer(dir_.Join("out"), base_);
  absl::StatusOr<std::string> saved = TrainAndSave(run, *ckpt, 0, 1);
  ASSERT_TRUE(saved.ok()) << saved.status();
  const std::string other = dir_.Join("other-base");
  testing::WriteBaseModel(other, sharding::testing::MakeMlp(spec_), "mlp-v2");
  auto other_ckpt = NewCheckpointer(dir_.Join("out"), other);
  testing::Run fresh = NewRun();
  absl::StatusOr<LoadedCheckpoint> loaded = other_ckpt->Load(*fresh.engine, *saved);
  ASSERT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition) << loaded.status();
  const std::string saved_fp = *BaseModelFingerprint(base_);
  const std::string other_fp = *BaseModelFingerprint(other);
  EXPECT_NE(saved_fp, other_fp);
  EXPECT_NE(loaded.status().message().find(saved_fp), std::string::npos) << loaded.status();
  EXPECT_NE(loaded.status().message().find(other_fp), std::string::npos) << loaded.status();
}

// The same preset, shapes and config.json, other weights (another seed): the fingerprint samples
// tensor contents, so the checkpoint is refused (it once resumed silently).
TEST_F(CheckpointIntegrityTest, ABaseWithTheSameShapesButOtherWeightsIsRefused) {
  testing::Run run = NewRun();
  auto ckpt = NewCheckpointer(dir_.Join("out"), base_);
  absl::StatusOr<std::string> saved = TrainAndSave(run, *ckpt, 0, 1);
  ASSERT_TRUE(saved.ok()) << saved.status();
  const std::string other = dir_.Join("reseeded-base");
  testing::WriteBaseModel(other, sharding::testing::MakeMlp(spec_, /*seed=*/5));
  ASSERT_EQ(*ReadWholeFile(other + "/config.json"), *ReadWholeFile(base_ + "/config.json"));
  auto other_ckpt = NewCheckpointer(dir_.Join("out"), other);
  testing::Run fresh = NewRun();
  absl::StatusOr<LoadedCheckpoint> loaded = other_ckpt->Load(*fresh.engine, *saved);
  ASSERT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition) << loaded.status();
  EXPECT_NE(loaded.status().message().find(*BaseModelFingerprint(other)), std::string::npos)
      << loaded.status();
  EXPECT_EQ(BaseModelFingerprint(other)->rfind("contents-v2:", 0), 0u);
  // The same folder fingerprints the same; the header-only scheme of older checkpoints cannot
  // tell the two apart, and is still what a checkpoint recording it is compared with.
  EXPECT_EQ(*BaseModelFingerprint(base_), *BaseModelFingerprint(base_));
  EXPECT_EQ(*BaseModelFingerprintLike(other, "legacy"), *BaseModelFingerprintLike(base_, "legacy"));
}

// A checkpoint damaged after it committed (truncated manifest) is set aside with a note, not
// silently skipped and then overwritten by the resumed run's save at that step.
TEST_F(CheckpointIntegrityTest, ADamagedNewestCheckpointIsSetAsideWithANote) {
  const std::string out = dir_.Join("out");
  testing::Run run = NewRun();
  auto ckpt = NewCheckpointer(out, base_);
  ASSERT_TRUE(TrainAndSave(run, *ckpt, 0, 1).ok());
  absl::StatusOr<std::string> second = TrainAndSave(run, *ckpt, 1, 2);
  ASSERT_TRUE(second.ok()) << second.status();
  fs::resize_file(*second + "/manifest.json", 100);
  std::vector<std::string> notes;
  absl::StatusOr<std::optional<std::string>> from = ckpt->ResolveResume("auto", &notes);
  ASSERT_TRUE(from.ok()) << from.status();
  EXPECT_EQ(**from, out + "/checkpoint-1");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find(absl::StrCat("skipped ", out, "/checkpoint-2 (")), std::string::npos)
      << notes[0];
  EXPECT_NE(notes[0].find(absl::StrCat("kept it as ", out, "/checkpoint-2.damaged")),
            std::string::npos)
      << notes[0];
  EXPECT_FALSE(fs::exists(*second));
  EXPECT_EQ(fs::file_size(out + "/checkpoint-2.damaged/manifest.json"), 100u);
  // The resumed run saves step 2 again beside the damaged copy.
  ASSERT_TRUE(TrainAndSave(run, *ckpt, 1, 2).ok());
  EXPECT_EQ(*NewestCompleteCheckpoint(out), out + "/checkpoint-2");
  EXPECT_TRUE(fs::exists(out + "/checkpoint-2.damaged"));
}

// A partial save left by a failed run (a full disk) is removed at start-up, before the shared
// output_dir check writes anything.
TEST_F(CheckpointIntegrityTest, StaleSavesAreRemovedAtStartUp) {
  const std::string out = dir_.Join("out");
  fs::create_directories(out + "/.tmp-6/zero");
  std::ofstream(out + "/.tmp-6/zero/rank_00000.safetensors") << std::string(4096, 'x');
  fs::create_directories(out + "/.tmp-output-123");  // not a checkpoint save: left alone
  auto ckpt = NewCheckpointer(out, base_);
  ASSERT_TRUE(ckpt->CheckSharedOutputDir().ok());
  EXPECT_FALSE(fs::exists(out + "/.tmp-6"));
  EXPECT_TRUE(fs::exists(out + "/.tmp-output-123"));
}

TEST_F(CheckpointIntegrityTest, OtherTrainableParametersAreRefused) {
  testing::Run run = NewRun();
  auto ckpt = NewCheckpointer(dir_.Join("out"), base_);
  absl::StatusOr<std::string> saved = TrainAndSave(run, *ckpt, 0, 1);
  ASSERT_TRUE(saved.ok()) << saved.status();
  MlpSpec wider = spec_;
  wider.hidden = 16;
  testing::Run fresh = testing::MakeRun(wider, testing::DefaultTrain(), 1, 40, comm_);
  absl::StatusOr<LoadedCheckpoint> loaded = ckpt->Load(*fresh.engine, *saved);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition) << loaded.status();
  EXPECT_NE(loaded.status().message().find("parameter 'layers.0.weight' was saved with shape [12, 6]"),
            std::string::npos)
      << loaded.status();
}

// A 1 MiB tmpfs holds one checkpoint of this model (~170 KB) but not eight: the save that runs
// out of space fails naming the file and "No space left on device", its .tmp-<step> is gone,
// and the previous checkpoint is still the newest complete one and loads.
TEST_F(CheckpointIntegrityTest, DiskFullOnTmpfsKeepsThePreviousCheckpoint) {
  const std::string mount_point = dir_.Join("tmpfs");
  fs::create_directories(mount_point);
  if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "mount -t tmpfs is not possible here (" << std::strerror(errno)
                 << "); disk-full is not simulated";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  MlpSpec big{64, 128, 64, 3, at::kFloat};  // 33,088 parameters: 3 x 132 KB of state
  const std::string base = dir_.Join("big-base");
  testing::WriteBaseModel(base, sharding::testing::MakeMlp(big));
  const std::string out = mount_point + "/out";
  auto ckpt = NewCheckpointer(out, base);
  testing::Run run = testing::MakeRun(big, testing::DefaultTrain(), 1, 1 << 20, comm_);
  const testing::TrainSpec train = testing::DefaultTrain();
  testing::TrainSteps(run, big, train, 0, 1, 0, 1);
  absl::StatusOr<std::string> first = ckpt->Save(*run.engine, testing::RequestFor(1, 0, 1, 4));
  ASSERT_TRUE(first.ok()) << first.status();
  const auto state_at_first = testing::GatherState(*run.engine, *comm_);
  absl::Status failure;
  int step = 1;
  while (failure.ok() && step < 10) {
    ++step;
    testing::TrainSteps(run, big, train, 0, 1, step - 1, step);
    failure = ckpt->Save(*run.engine, testing::RequestFor(step, 0, 1, 4)).status();
  }
  ASSERT_FALSE(failure.ok()) << "a 1 MiB tmpfs held " << step << " checkpoints";
  EXPECT_EQ(failure.code(), absl::StatusCode::kInternal) << failure;
  EXPECT_NE(failure.message().find("No space left on device"), std::string::npos) << failure;
  EXPECT_NE(failure.message().find(absl::StrCat(out, "/.tmp-", step)), std::string::npos)
      << failure;
  EXPECT_FALSE(fs::exists(absl::StrCat(out, "/.tmp-", step)));
  EXPECT_FALSE(fs::exists(absl::StrCat(out, "/checkpoint-", step)));
  std::optional<std::string> newest = NewestCompleteCheckpoint(out);
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(*newest, absl::StrCat(out, "/checkpoint-", step - 1));
  testing::Run fresh = testing::MakeRun(big, train, 1, 1 << 20, comm_);
  absl::StatusOr<LoadedCheckpoint> loaded = ckpt->Load(*fresh.engine, *first);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  testing::ExpectBitwiseEqual(testing::GatherState(*fresh.engine, *comm_), state_at_first);
}

}  // namespace
}  // namespace zt::worker::train
