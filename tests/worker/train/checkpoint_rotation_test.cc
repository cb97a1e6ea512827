// save_total_limit rotation and --resume_from_checkpoint resolution over checkpoint folders:
// the newest complete checkpoint is never deleted (even when newer incomplete ones exist),
// leftovers of killed saves go, and "auto" / a named folder / "" resolve as documented.
#include "worker/train/checkpoint_rotation.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/support/temp_dir.h"
#include "worker/train/checkpoint_files.h"
#include "worker/train/checkpoint_manifest.h"

namespace zt::worker::train {
namespace {

namespace fs = std::filesystem;

// A complete checkpoint folder: a valid manifest (no state files needed for rotation).
void MakeComplete(const std::string& dir, int64_t step) {
  fs::create_directories(dir);
  CheckpointManifest m;
  m.step = step;
  m.rank_nodes = {0};
  m.rank_states = {nullptr};
  m.state_files = {StateFileName(0)};
  ASSERT_TRUE(WriteFileDurably(dir + "/" + kManifestFileName, ManifestToJson(m).dump()).ok());
}

std::vector<int64_t> Steps(const std::string& out) {
  std::vector<int64_t> steps;
  for (const CheckpointEntry& e : ListCheckpoints(out)) steps.push_back(e.step);
  return steps;
}

TEST(CheckpointRotationTest, KeepsTheLimitAndNeverTheNewestComplete) {
  zt::testing::TempDir dir;
  const std::string out = dir.Join("out");
  for (int step : {10, 20, 30}) MakeComplete(absl::StrCat(out, "/checkpoint-", step), step);
  // checkpoint-40 is incomplete (manifest missing: a folder copied by hand, half-deleted...).
  fs::create_directories(out + "/checkpoint-40/zero");
  fs::create_directories(out + "/.tmp-25");  // a killed save older than the newest complete
  fs::create_directories(out + "/.tmp-50");  // may still be written by a running save
  ASSERT_TRUE(RotateCheckpoints(out, 2).ok());
  // Oldest first: 10 and 20 go; 30 (newest complete) stays although 40 is newer.
  EXPECT_EQ(Steps(out), (std::vector<int64_t>{30, 40}));
  EXPECT_FALSE(fs::exists(out + "/.tmp-25"));
  EXPECT_TRUE(fs::exists(out + "/.tmp-50"));
  ASSERT_TRUE(RotateCheckpoints(out, 1).ok());
  EXPECT_EQ(Steps(out), (std::vector<int64_t>{30}));
  // Nothing named .deleting-* is left behind.
  for (const auto& e : fs::directory_iterator(out)) {
    EXPECT_EQ(e.path().filename().string().rfind(".deleting-", 0), std::string::npos);
  }
}

TEST(CheckpointRotationTest, LimitZeroKeepsEverything) {
  zt::testing::TempDir dir;
  const std::string out = dir.Join("out");
  for (int step : {1, 2, 3}) MakeComplete(absl::StrCat(out, "/checkpoint-", step), step);
  ASSERT_TRUE(RotateCheckpoints(out, 0).ok());
  EXPECT_EQ(Steps(out), (std::vector<int64_t>{1, 2, 3}));
}

TEST(CheckpointRotationTest, ResolvesResumeFromCheckpoint) {
  zt::testing::TempDir dir;
  const std::string out = dir.Join("out");
  // No output_dir yet: "auto" starts fresh.
  EXPECT_FALSE(ResolveResumeCheckpoint(out, "auto")->has_value());
  for (int step : {5, 15}) MakeComplete(absl::StrCat(out, "/checkpoint-", step), step);
  fs::create_directories(out + "/checkpoint-20");  // incomplete: not picked
  fs::create_directories(out + "/checkpoint-x");   // not a checkpoint name
  EXPECT_EQ(ResolveResumeCheckpoint(out, "auto")->value_or(""), out + "/checkpoint-15");
  EXPECT_FALSE(ResolveResumeCheckpoint(out, "")->has_value());
  EXPECT_EQ(ResolveResumeCheckpoint(out, out + "/checkpoint-5")->value_or(""),
            out + "/checkpoint-5");
  absl::StatusOr<std::optional<std::string>> partial =
      ResolveResumeCheckpoint(out, out + "/checkpoint-20");
  EXPECT_EQ(partial.status().code(), absl::StatusCode::kNotFound) << partial.status();
  EXPECT_NE(partial.status().message().find(out + "/checkpoint-20/manifest.json"),
            std::string::npos)
      << partial.status();
  absl::StatusOr<std::optional<std::string>> missing = ResolveResumeCheckpoint(out, out + "/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("--resume_from_checkpoint " + out + "/nope"),
            std::string::npos)
      << missing.status();
}

}  // namespace
}  // namespace zt::worker::train
