// The manifest and its helpers: SHA-256 against the FIPS 180-2 test vectors, a manifest round
// trip, a tampered manifest (DataLoss naming it), inconsistent pieces, and the base model
// fingerprint (changes with config.json or a safetensors header, not with the weights' bytes).
#include "worker/train/checkpoint_manifest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/temp_dir.h"
#include "worker/io/safetensors_file.h"
#include "worker/train/checkpoint_files.h"

namespace zt::worker::train {
namespace {

TEST(CheckpointManifestTest, Sha256MatchesTheFipsVectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  zt::testing::TempDir dir;
  const std::string path = dir.Join("million-a");
  std::ofstream(path) << std::string(1000000, 'a');
  absl::StatusOr<FileDigest> digest = Sha256File(path);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(digest->sha256, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(digest->bytes, 1000000);
  EXPECT_EQ(Sha256File(dir.Join("absent")).status().code(), absl::StatusCode::kNotFound);
}

CheckpointManifest Sample() {
  CheckpointManifest m;
  m.step = 7;
  m.kind = "lora";
  m.world_size = 2;
  m.stage = 2;
  m.partition_world = 2;
  m.applied_steps = 6;
  m.skipped_steps = 1;
  m.loss_scaler = {1024.0, 6, 3, 1};
  m.groups.push_back({{"a.weight"}, "BF16", "F32", 0.1, 500000000, 2, 4, 2});
  m.params.push_back({"a.weight", 0, {3}, {{0, 0, 2}, {1, 2, 1}}});
  m.state_files = {StateFileName(0), StateFileName(1)};
  m.files.push_back({StateFileName(0), std::string(64, 'a'), 100, 0});
  m.rank_nodes = {0, 0};
  m.rank_states = {{{"seed", 1}}, {{"seed", 2}}};
  m.client_state = {{"sampler", {{"global_sample_index", 56}}}};
  m.base_model_dir = "base";
  m.base_model_fingerprint = std::string(64, 'f');
  return m;
}

TEST(CheckpointManifestTest, RoundTripsAndRefusesTampering) {
  zt::testing::TempDir dir;
  const std::string text = ManifestToJson(Sample()).dump(2);
  ASSERT_TRUE(WriteFileDurably(dir.Join(kManifestFileName), text).ok());
  absl::StatusOr<CheckpointManifest> m = ReadManifest(dir.path());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->step, 7);
  EXPECT_EQ(m->loss_scaler.cur_scale, 1024.0);
  EXPECT_EQ(m->loss_scaler.last_overflow_iter, 3);
  ASSERT_NE(m->FindParam("a.weight"), nullptr);
  EXPECT_EQ(m->FindParam("a.weight")->pieces[1].offset, 2);
  EXPECT_EQ(m->rank_states[1]["seed"], 2);
  EXPECT_EQ(m->client_state["sampler"]["global_sample_index"], 56);
  EXPECT_NE(m->FindFile(StateFileName(0), 0), nullptr);
  EXPECT_EQ(m->FindFile(StateFileName(0), 1), nullptr);

  // 56 -> 57: still valid JSON, caught by the self-checksum.
  std::string tampered = text;
  tampered.replace(tampered.find("56"), 2, "57");
  ASSERT_TRUE(WriteFileDurably(dir.Join(kManifestFileName), tampered).ok());
  absl::StatusOr<CheckpointManifest> bad = ReadManifest(dir.path());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find(dir.Join(kManifestFileName) + " is corrupt"),
            std::string::npos)
      << bad.status();
  ASSERT_TRUE(WriteFileDurably(dir.Join(kManifestFileName), text.substr(0, 100)).ok());
  EXPECT_EQ(ReadManifest(dir.path()).status().code(), absl::StatusCode::kDataLoss);
}

TEST(CheckpointManifestTest, PiecesMustTileEachParameter) {
  zt::testing::TempDir dir;
  CheckpointManifest m = Sample();
  m.params[0].pieces[1].offset = 1;  // overlaps the first piece
  ASSERT_TRUE(WriteFileDurably(dir.Join(kManifestFileName), ManifestToJson(m).dump()).ok());
  absl::StatusOr<CheckpointManifest> bad = ReadManifest(dir.path());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("params.a.weight.pieces do not tile"), std::string::npos)
      << bad.status();
}

TEST(CheckpointManifestTest, FingerprintCoversConfigHeadersAndSampledContents) {
  zt::testing::TempDir dir;
  const std::string model = dir.Join("model");
  std::filesystem::create_directories(model);
  std::ofstream(model + "/config.json") << R"({"model_type": "qwen2"})";
  const std::string weights = model + "/model.safetensors";
  ASSERT_TRUE(io::WriteSafetensors(weights, {{"w", at::zeros({4})}}).ok());
  const std::string first = *BaseModelFingerprint(model);
  EXPECT_EQ(first.size(), std::string("contents-v2:").size() + 64);
  EXPECT_EQ(*BaseModelFingerprint(model), first);
  ASSERT_TRUE(io::WriteSafetensors(weights, {{"w", at::ones({4})}}).ok());
  EXPECT_NE(*BaseModelFingerprint(model), first);  // same header, other values
  // The header-only scheme older checkpoints recorded cannot see values, only shapes.
  const std::string legacy = *BaseModelFingerprintLike(model, "0123");
  EXPECT_EQ(legacy.size(), 64u);
  ASSERT_TRUE(io::WriteSafetensors(weights, {{"w", at::zeros({4})}}).ok());
  EXPECT_EQ(*BaseModelFingerprintLike(model, "0123"), legacy);
  EXPECT_EQ(*BaseModelFingerprintLike(model, first), first);
  ASSERT_TRUE(io::WriteSafetensors(weights, {{"w", at::ones({5})}}).ok());
  const std::string second = *BaseModelFingerprint(model);
  EXPECT_NE(second, first);
  std::ofstream(model + "/config.json") << R"({"model_type": "qwen3"})";
  EXPECT_NE(*BaseModelFingerprint(model), second);
  EXPECT_EQ(BaseModelFingerprint(dir.Join("absent")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace zt::worker::train
