#include "sharding/collectives/file_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/backoff.h"
#include "common/status_macros.h"

namespace zt::sharding {
namespace {

constexpr size_t kMaxFileNameBytes = 240;
constexpr char kLockFile[] = ".lock";

bool IsPlainByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::Status ErrnoError(absl::string_view what, absl::string_view path, int error) {
  return absl::UnavailableError(absl::StrCat("file store: ", what, " '", path, "': ", std::strerror(error)));
}

common::Backoff PollBackoff() {
  return common::Backoff({absl::Milliseconds(1), absl::Milliseconds(50), 2.0});
}

// RAII exclusive flock() on the store's lock file.
class FolderLock {
 public:
  static absl::StatusOr<FolderLock> Acquire(const std::string& dir) {
    std::string path = absl::StrCat(dir, "/", kLockFile);
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError("cannot open lock file", path, errno);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        int error = errno;
        ::close(fd);
        return ErrnoError("cannot lock", path, error);
      }
    }
    return FolderLock(fd);
  }
  FolderLock(FolderLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FolderLock& operator=(FolderLock&&) = delete;
  ~FolderLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }

 private:
  explicit FolderLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace

absl::StatusOr<std::string> EncodeKeyFileName(absl::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("file store: empty key");
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string name;
  name.reserve(key.size());
  for (char c : key) {
    if (IsPlainByte(c)) {
      name.push_back(c);
    } else {
      auto byte = static_cast<unsigned char>(c);
      name.push_back('%');
      name.push_back(kHex[byte >> 4]);
      name.push_back(kHex[byte & 0xF]);
    }
  }
  if (name.size() > kMaxFileNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("file store: key of ", key.size(),
                                                   " bytes is too long for a file name (max ",
                                                   kMaxFileNameBytes, " bytes encoded)"));
  }
  return name;
}

absl::StatusOr<std::string> DecodeKeyFileName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxFileNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("file store: '", name, "' is not a key file name"));
  }
  std::string key;
  key.reserve(name.size());
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (IsPlainByte(c)) {
      key.push_back(c);
      continue;
    }
    int high = c == '%' && i + 2 < name.size() ? HexValue(name[i + 1]) : -1;
    int low = high >= 0 ? HexValue(name[i + 2]) : -1;
    if (low < 0 || IsPlainByte(static_cast<char>(high * 16 + low))) {
      // Only the canonical encoding is accepted, so names and keys correspond one to one.
      return absl::InvalidArgumentError(absl::StrCat("file store: '", name, "' is not a key file name"));
    }
    key.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return key;
}

absl::StatusOr<std::unique_ptr<FileStore>> FileStore::Open(std::string dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error || !std::filesystem::is_directory(dir)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "file store: cannot create folder '", dir, "'", error ? ": " + error.message() : ""));
  }
  return std::unique_ptr<FileStore>(new FileStore(std::move(dir)));
}

absl::StatusOr<std::string> FileStore::PathFor(absl::string_view key) const {
  ZT_ASSIGN_OR_RETURN(std::string name, EncodeKeyFileName(key));
  return absl::StrCat(dir_, "/", name);
}

absl::StatusOr<std::string> FileStore::ReadValue(absl::string_view key) const {
  ZT_ASSIGN_OR_RETURN(std::string path, PathFor(key));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("key '", key, "' not set"));
    return ErrnoError("cannot open", path, errno);
  }
  std::string value;
  char buffer[4096];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      ::close(fd);
      return ErrnoError("cannot read", path, error);
    }
    if (n == 0) break;
    value.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return value;
}

absl::Status FileStore::WriteValue(absl::string_view key, absl::string_view value) const {
  ZT_ASSIGN_OR_RETURN(std::string path, PathFor(key));
  // A unique temporary name per writer ('.' prefix: never a key's name), then rename():
  // readers see the old value or the new one, never a partial write. No fsync: rendezvous
  // state dies with the job.
  static std::atomic<uint64_t> sequence{0};
  std::string temp = absl::StrCat(dir_, "/.tmp.", ::getpid(), ".", sequence.fetch_add(1));
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", temp, errno);
  size_t written = 0;
  while (written < value.size()) {
    ssize_t n = ::write(fd, value.data() + written, value.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      return ErrnoError("cannot write", temp, error);
    }
    written += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 || ::rename(temp.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temp.c_str());
    return ErrnoError("cannot publish", path, error);
  }
  return absl::OkStatus();
}

absl::Status FileStore::Set(absl::string_view key, absl::string_view value) {
  return WriteValue(key, value);
}

absl::StatusOr<std::string> FileStore::Get(absl::string_view key, absl::Time deadline) {
  common::Backoff backoff = PollBackoff();
  while (true) {
    absl::StatusOr<std::string> value = ReadValue(key);
    if (!absl::IsNotFound(value.status())) return value;
    if (!backoff.SleepBefore(deadline)) {
      return StoreDeadlineError(absl::StrCat("the file store at '", dir_, "'"), {std::string(key)});
    }
  }
}

absl::Status FileStore::Wait(absl::Span<const std::string> keys, absl::Time deadline) {
  common::Backoff backoff = PollBackoff();
  while (true) {
    std::vector<std::string> missing;
    for (const std::string& key : keys) {
      ZT_ASSIGN_OR_RETURN(std::string path, PathFor(key));
      if (::access(path.c_str(), F_OK) != 0) missing.push_back(key);
    }
    if (missing.empty()) return absl::OkStatus();
    if (!backoff.SleepBefore(deadline)) {
      return StoreDeadlineError(absl::StrCat("the file store at '", dir_, "'"), missing);
    }
  }
}

absl::StatusOr<int64_t> FileStore::Add(absl::string_view key, int64_t delta) {
  ZT_ASSIGN_OR_RETURN(FolderLock lock, FolderLock::Acquire(dir_));
  int64_t counter = 0;
  absl::StatusOr<std::string> current = ReadValue(key);
  if (current.ok()) {
    ZT_ASSIGN_OR_RETURN(counter, ParseCounter(key, *current));
  } else if (!absl::IsNotFound(current.status())) {
    return current.status();
  }
  counter += delta;
  ZT_RETURN_IF_ERROR(WriteValue(key, absl::StrCat(counter)));
  return counter;
}

absl::StatusOr<bool> FileStore::Delete(absl::string_view key) {
  ZT_ASSIGN_OR_RETURN(std::string path, PathFor(key));
  if (::unlink(path.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  return ErrnoError("cannot delete", path, errno);
}

absl::StatusOr<bool> FileStore::Check(absl::Span<const std::string> keys) {
  for (const std::string& key : keys) {
    ZT_ASSIGN_OR_RETURN(std::string path, PathFor(key));
    if (::access(path.c_str(), F_OK) != 0) return false;
  }
  return true;
}

}  // namespace zt::sharding
