// One job per output_dir: the process that writes a job's metrics files (the coordinator)
// holds an exclusive flock(2) on <output_dir>/.zerotune/lock for as long as it serves, so a
// second job into the same folder is refused before any of its ranks start instead of
// interleaving metrics.jsonl and overwriting the adapter. The kernel drops the lock when the
// holder dies (kill -9 included), so a dead holder never keeps the folder. The file records
// the holder's job id, pid, host and start time for the refusal message. The descriptor is
// close-on-exec: rank processes started by the holder do not inherit the lock. Move-only;
// releases on destruction.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace zt::coordinator {

class OutputDirLock {
 public:
  // Creates <output_dir>/.zerotune when missing and takes the lock without waiting.
  // FailedPrecondition "output_dir X is in use by job <id> (pid N on host H) since <time>"
  // while another process holds it; InvalidArgument when the folder or file cannot be made.
  static absl::StatusOr<std::unique_ptr<OutputDirLock>> Acquire(const std::string& output_dir,
                                                                const std::string& job_id,
                                                                absl::Time now);
  ~OutputDirLock();
  OutputDirLock(const OutputDirLock&) = delete;
  OutputDirLock& operator=(const OutputDirLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  OutputDirLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  int fd_;
  std::string path_;
};

}  // namespace zt::coordinator
