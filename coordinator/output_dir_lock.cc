#include "coordinator/output_dir_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/error_context.h"

namespace zt::coordinator {
namespace {

std::string ReadAll(int fd) {
  std::string text;
  char buffer[4096];
  ssize_t got = 0;
  off_t offset = 0;
  while ((got = pread(fd, buffer, sizeof(buffer), offset)) > 0) {
    text.append(buffer, static_cast<size_t>(got));
    offset += got;
  }
  return text;
}

// "job <id> (pid N on host H) since <time>" from the holder's record; the holder may not
// have written it yet (it writes right after locking), hence the fallback.
std::string DescribeHolder(int fd) {
  const nlohmann::json record = nlohmann::json::parse(ReadAll(fd), nullptr, false);
  if (!record.is_object() || !record.contains("pid")) {
    return "another job (its lock record is not written yet)";
  }
  return absl::StrCat("job ", record.value("job_id", "?"), " (pid ",
                      record.value("pid", int64_t{0}), " on host ", record.value("host", "?"),
                      ") since ", record.value("since", "?"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<OutputDirLock>> OutputDirLock::Acquire(const std::string& output_dir,
                                                                      const std::string& job_id,
                                                                      absl::Time now) {
  const std::string dir = output_dir + "/.zerotune";
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("output_dir ", output_dir, ": cannot create ", dir, ": ", error.message()));
  }
  const std::string path = dir + "/lock";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat("output_dir ", output_dir, ": cannot open ",
                                                   path, ": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int lock_errno = errno;
    std::string holder = lock_errno == EWOULDBLOCK ? DescribeHolder(fd) : "";
    close(fd);
    if (lock_errno != EWOULDBLOCK) {
      return absl::InvalidArgumentError(absl::StrCat("output_dir ", output_dir, ": cannot lock ",
                                                     path, ": ", std::strerror(lock_errno)));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("output_dir ", output_dir, " is in use by ", holder,
                     "; give this job another --output_dir, or stop that job first"));
  }
  const nlohmann::json record{
      {"job_id", job_id},
      {"pid", static_cast<int64_t>(getpid())},
      {"host", common::HostName()},
      {"since", absl::FormatTime(absl::RFC3339_sec, now, absl::UTCTimeZone())}};
  const std::string text = record.dump() + "\n";
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    const int write_errno = errno;
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat("output_dir ", output_dir, ": cannot write ",
                                                   path, ": ", std::strerror(write_errno)));
  }
  return std::unique_ptr<OutputDirLock>(new OutputDirLock(fd, path));
}

OutputDirLock::~OutputDirLock() {
  // The file stays (unlinking a lock file races with the next holder's open); emptying it
  // keeps a finished job's record from looking current.
  if (ftruncate(fd_, 0) != 0) {
    // Nothing to do: the lock is released by close() either way.
  }
  close(fd_);
}

}  // namespace zt::coordinator
