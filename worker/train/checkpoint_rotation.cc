#include "worker/train/checkpoint_rotation.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/train/checkpoint_files.h"
#include "worker/train/checkpoint_manifest.h"

namespace zt::worker::train {

namespace fs = std::filesystem;

namespace {

// "<prefix><digits>" -> digits.
std::optional<int64_t> StepOf(const std::string& name, absl::string_view prefix) {
  if (!absl::StartsWith(name, prefix)) return std::nullopt;
  int64_t step = 0;
  if (!absl::SimpleAtoi(absl::string_view(name).substr(prefix.size()), &step) || step < 0) {
    return std::nullopt;
  }
  return step;
}

}  // namespace

std::vector<CheckpointEntry> ListCheckpoints(const std::string& output_dir) {
  std::vector<CheckpointEntry> out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(output_dir, ec)) {
    if (!e.is_directory(ec)) continue;
    std::optional<int64_t> step = StepOf(e.path().filename().string(), "checkpoint-");
    if (!step) continue;
    CheckpointEntry entry;
    entry.step = *step;
    entry.dir = e.path().string();
    entry.complete = ReadManifest(entry.dir).ok();
    out.push_back(std::move(entry));
  }
  std::sort(out.begin(), out.end(),
            [](const CheckpointEntry& a, const CheckpointEntry& b) { return a.step < b.step; });
  return out;
}

std::optional<std::string> NewestCompleteCheckpoint(const std::string& output_dir) {
  std::vector<CheckpointEntry> all = ListCheckpoints(output_dir);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->complete) return it->dir;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<std::string>> ResolveResumeCheckpoint(const std::string& output_dir,
                                                                   const std::string& arg) {
  if (arg.empty()) return std::optional<std::string>();
  if (arg == "auto") return NewestCompleteCheckpoint(output_dir);
  std::error_code ec;
  if (!fs::is_directory(arg, ec)) {
    return absl::NotFoundError(absl::StrCat("--resume_from_checkpoint ", arg,
                                            " is not a folder; expected a checkpoint-<step> "
                                            "folder, \"auto\" or \"\""));
  }
  absl::StatusOr<CheckpointManifest> manifest = ReadManifest(arg);
  if (!manifest.ok()) {
    return absl::Status(manifest.status().code(),
                        absl::StrCat("--resume_from_checkpoint ", arg,
                                     " is not a complete checkpoint: ", manifest.status().message()));
  }
  return std::optional<std::string>(arg);
}

absl::StatusOr<std::vector<SetAsideCheckpoint>> SetAsideDamagedCheckpoints(
    const std::string& output_dir) {
  std::vector<CheckpointEntry> all = ListCheckpoints(output_dir);
  int64_t newest_complete = -1;
  for (const CheckpointEntry& e : all) {
    if (e.complete) newest_complete = e.step;
  }
  std::vector<SetAsideCheckpoint> out;
  for (const CheckpointEntry& e : all) {
    if (e.complete || e.step < newest_complete) continue;
    SetAsideCheckpoint moved;
    moved.dir = e.dir;
    moved.reason = std::string(ReadManifest(e.dir).status().message());
    std::error_code ec;
    moved.moved_to = e.dir + ".damaged";
    for (int n = 2; fs::exists(moved.moved_to, ec); ++n) {
      moved.moved_to = absl::StrCat(e.dir, ".damaged-", n);
    }
    fs::rename(e.dir, moved.moved_to, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot set the damaged checkpoint ", e.dir,
                                              " aside as ", moved.moved_to, ": ", ec.message()));
    }
    out.push_back(std::move(moved));
  }
  return out;
}

absl::Status RemoveStaleSaves(const std::string& output_dir) {
  std::error_code ec;
  std::vector<std::string> stale;
  for (const fs::directory_entry& e : fs::directory_iterator(output_dir, ec)) {
    if (StepOf(e.path().filename().string(), ".tmp-")) stale.push_back(e.path().string());
  }
  for (const std::string& dir : stale) ZT_RETURN_IF_ERROR(RemoveFolder(dir));
  return absl::OkStatus();
}

absl::Status RotateCheckpoints(const std::string& output_dir, int64_t limit) {
  std::vector<CheckpointEntry> all = ListCheckpoints(output_dir);
  int64_t newest_complete = -1;
  for (const CheckpointEntry& e : all) {
    if (e.complete) newest_complete = e.step;
  }
  if (limit > 0) {
    int64_t excess = static_cast<int64_t>(all.size()) - limit;
    for (const CheckpointEntry& e : all) {
      if (excess <= 0) break;
      if (e.step == newest_complete) continue;
      ZT_RETURN_IF_ERROR(RemoveFolder(e.dir));
      --excess;
    }
  }
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(output_dir, ec)) {
    std::optional<int64_t> step = StepOf(e.path().filename().string(), ".tmp-");
    if (step && *step <= newest_complete) ZT_RETURN_IF_ERROR(RemoveFolder(e.path().string()));
  }
  return absl::OkStatus();
}

}  // namespace zt::worker::train
