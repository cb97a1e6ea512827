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

// A checkpoint-<step> newer than the newest complete one whose manifest does not read back
// was damaged after its save committed (a save cut short leaves only .tmp-<step>). Left in
// place, a resume from the older one would overwrite it at that step; instead each is renamed
// to checkpoint-<step>.damaged (".damaged-<n>" when taken), which no listing counts, and kept
// for inspection.
struct SetAsideCheckpoint {
  std::string dir;       // the folder as it was
  std::string moved_to;  // where it is now
  std::string reason;    // why its manifest did not read back
};
absl::StatusOr<std::vector<SetAsideCheckpoint>> SetAsideDamagedCheckpoints(
    const std::string& output_dir);

// Removes every .tmp-<step> folder of `output_dir`: at start-up no save of this job is running
// (another job's is refused by the output_dir lock), so they are what failed saves left, and a
// full disk's partial save would otherwise keep the space that the rerun needs.
absl::Status RemoveStaleSaves(const std::string& output_dir);

// save_total_limit (HF TrainingArguments): deletes the oldest checkpoint folders until at most
// `limit` remain (limit <= 0 keeps all), never the newest complete one, and removes `.tmp-<n>`
// leftovers of saves cut short for n at or below the newest complete step. Deletion renames
// first, so an interrupted rotation never leaves a partial checkpoint-<step>.
absl::Status RotateCheckpoints(const std::string& output_dir, int64_t limit);

}  // namespace zt::worker::train
