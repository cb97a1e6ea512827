// Checkpointer: construction, node leaders, the shared output_dir check and the resume choice
// (Save is checkpoint_writer.cc, Load checkpoint_reader.cc).
#include "worker/train/checkpointer.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/train/checkpoint_files.h"
#include "worker/train/checkpoint_rotation.h"

namespace zt::worker::train {

namespace fs = std::filesystem;

Checkpointer::Checkpointer(CheckpointerOptions options, std::shared_ptr<sharding::Store> store)
    : options_(std::move(options)),
      sync_(std::move(store), options_.rank, options_.world_size, options_.timeout) {}

absl::Status Checkpointer::LearnNodes() {
  if (!rank_nodes_.empty()) return absl::OkStatus();
  ZT_ASSIGN_OR_RETURN(std::vector<std::string> nodes,
                      sync_.AllGather("nodes", absl::StrCat(options_.node)));
  rank_nodes_.resize(nodes.size());
  for (size_t r = 0; r < nodes.size(); ++r) {
    if (!absl::SimpleAtoi(nodes[r], &rank_nodes_[r])) {
      return absl::InternalError(absl::StrCat("rank ", r, " sent node \"", nodes[r], "\""));
    }
  }
  return absl::OkStatus();
}

bool Checkpointer::IsLeader() const {
  if (!options_.save_on_each_node) return options_.rank == 0;
  for (int r = 0; r < options_.rank; ++r) {
    if (rank_nodes_[r] == options_.node) return false;
  }
  return true;
}

void Checkpointer::Phase(absl::string_view phase) const {
  if (options_.phase_hook) options_.phase_hook(phase);
}

absl::StatusOr<std::string> Checkpointer::Fingerprint() {
  if (fingerprint_.empty()) {
    ZT_ASSIGN_OR_RETURN(fingerprint_, BaseModelFingerprint(options_.base_model_dir));
  }
  return fingerprint_;
}

absl::Status Checkpointer::CheckSharedOutputDir() {
  ZT_RETURN_IF_ERROR(LearnNodes());
  std::error_code ec;
  fs::create_directories(options_.output_dir, ec);
  absl::Status mine = ec ? absl::InternalError(absl::StrCat("cannot create output_dir ",
                                                            options_.output_dir, ": ", ec.message()))
                         : absl::OkStatus();
  ZT_RETURN_IF_ERROR(sync_.AllOk("output_dir_created", mine));
  // What failed saves left (a full disk's partial .tmp-<step> holds the space a rerun needs).
  ZT_RETURN_IF_ERROR(sync_.AllOk(
      "stale_saves_removed",
      IsLeader() ? RemoveStaleSaves(options_.output_dir) : absl::OkStatus()));
  // One nonce for the run, from rank 0, so files of an earlier run never count.
  std::string nonce;
  if (options_.rank == 0) {
    std::random_device device;
    nonce = absl::StrFormat("%08x%08x%d", device(), device(), ::getpid());
  }
  ZT_ASSIGN_OR_RETURN(std::vector<std::string> nonces, sync_.AllGather("nonce", nonce));
  nonce = nonces[0];
  auto file_of = [&](int r) {
    return absl::StrCat(options_.output_dir, "/.zt-shared-check-", nonce, "-rank", r);
  };
  const std::string my_file = file_of(options_.rank);
  ZT_RETURN_IF_ERROR(sync_.AllOk("nonce_written", WriteFileDurably(my_file, nonce)));
  absl::Status verdict;
  if (options_.rank == 0 && !options_.save_on_each_node) {
    std::vector<std::string> missing;
    for (int r = 0; r < options_.world_size; ++r) {
      if (!fs::exists(file_of(r), ec)) {
        missing.push_back(absl::StrCat(r, " (node ", rank_nodes_[r], ")"));
      }
    }
    if (!missing.empty()) {
      verdict = absl::FailedPreconditionError(absl::StrCat(
          "output_dir is not shared across nodes: rank 0 does not see the files that ranks ",
          absl::StrJoin(missing, ", "), " wrote into ", options_.output_dir,
          "; put output_dir on a filesystem every node mounts, or pass --save_on_each_node"));
    }
  }
  absl::Status agreed = sync_.AllOk("nonce_checked", verdict);
  fs::remove(my_file, ec);
  return agreed;
}

absl::StatusOr<std::optional<std::string>> Checkpointer::ResolveResume(
    const std::string& arg, std::vector<std::string>* notes) {
  if (arg.empty()) return std::optional<std::string>();
  ZT_RETURN_IF_ERROR(LearnNodes());
  if (arg == "auto") {
    absl::StatusOr<std::vector<SetAsideCheckpoint>> moved =
        IsLeader() ? SetAsideDamagedCheckpoints(options_.output_dir)
                   : absl::StatusOr<std::vector<SetAsideCheckpoint>>(
                         std::vector<SetAsideCheckpoint>{});
    ZT_RETURN_IF_ERROR(sync_.AllOk("damaged_set_aside", moved.status()));
    for (const SetAsideCheckpoint& m : *moved) {
      if (notes == nullptr) continue;
      notes->push_back(absl::StrCat("skipped ", m.dir, " (", m.reason, "); kept it as ",
                                    m.moved_to));
    }
  }
  // The leaders look in their own output_dir; with save_on_each_node every node must hold the
  // same checkpoint-<step>, and each rank resumes from its own node's copy.
  absl::StatusOr<std::optional<std::string>> mine =
      IsLeader() ? ResolveResumeCheckpoint(options_.output_dir, arg)
                 : absl::StatusOr<std::optional<std::string>>(std::nullopt);
  ZT_RETURN_IF_ERROR(sync_.AllOk("resume_resolved", mine.status()));
  std::string choice;
  if (IsLeader()) {
    choice = mine->has_value() ? std::filesystem::path(**mine).filename().string() : "-";
  }
  ZT_ASSIGN_OR_RETURN(std::vector<std::string> all, sync_.AllGather("resume_choice", choice));
  for (int r = 1; r < options_.world_size; ++r) {
    if (!all[r].empty() && all[r] != all[0]) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--resume_from_checkpoint ", arg, ": rank 0 resumes from ",
          all[0] == "-" ? "nothing" : all[0], " but rank ", r, " (the leader of node ",
          rank_nodes_[r], ") from ", all[r] == "-" ? "nothing" : all[r],
          "; with --save_on_each_node every node must hold the same checkpoints"));
    }
  }
  if (all[0] == "-") return std::optional<std::string>();
  if (arg != "auto") return std::optional<std::string>(arg);
  return std::optional<std::string>(absl::StrCat(options_.output_dir, "/", all[0]));
}

}  // namespace zt::worker::train
