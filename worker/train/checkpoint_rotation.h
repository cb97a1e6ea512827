// The checkpoint folders of an output_dir: listing (checkpoint-<step>, ordered by step), which
// one is the newest complete one, what --resume_from_checkpoint names, and save_total_limit
// rotation. "Complete" means the folder's manifest reads back with a valid self-checksum: the
// manifest is the last file written into `.tmp-<step>` before the rename that commits it, so a
// save cut short leaves only `.tmp-<step>` (never a checkpoint-<step>) behind. File contents are
// verified against the manifest when a checkpoint is loaded (Checkpointer::Load).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace zt::worker::train {

inline constexpr char kLatestFileName[] = "latest";

struct CheckpointEntry {
  int64_t step = 0;
  std::string dir;
  bool complete = false;
};

// Every checkpoint-<step> folder of `output_dir`, ascending by step (empty when the folder does
// not exist).
std::vector<CheckpointEntry> ListCheckpoints(const std::string& output_dir);

// The complete checkpoint with the highest step, or nullopt.
std::optional<std::string> NewestCompleteCheckpoint(const std::string& output_dir);

// --resume_from_checkpoint: "" -> nullopt (start fresh); "auto" -> the newest complete
// checkpoint in output_dir, nullopt when there is none; anything else is a checkpoint folder
// that must be complete (NotFound / DataLoss naming it otherwise).
absl::StatusOr<std::optional<std::string>> ResolveResumeCheckpoint(const std::string& output_dir,
                                                                   const std::string& arg);

// save_total_limit (HF TrainingArguments): deletes the oldest checkpoint folders until at most
// `limit` remain (limit <= 0 keeps all), never the newest complete one, and removes `.tmp-<n>`
// leftovers of saves cut short for n at or below the newest complete step. Deletion renames
// first, so an interrupted rotation never leaves a partial checkpoint-<step>.
absl::Status RotateCheckpoints(const std::string& output_dir, int64_t limit);

}  // namespace zt::worker::train
