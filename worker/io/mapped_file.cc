#include "worker/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace zt::worker::io {
namespace {

absl::Status ErrnoError(int err, absl::string_view what, const std::string& path) {
  std::string message = absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

}  // namespace

absl::StatusOr<std::shared_ptr<MappedFile>> MappedFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoError(err, "stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  char* data = nullptr;
  if (size > 0) {
    // MAP_PRIVATE + PROT_WRITE: tensors aliasing the mapping may be modified in place (e.g. an
    // in-place cast or merge) without writing to the file or faulting.
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return ErrnoError(err, "mmap", path);
    }
    data = static_cast<char*>(p);
  }
  ::close(fd);  // the mapping stays valid
  return std::shared_ptr<MappedFile>(new MappedFile(path, data, size));
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

bool MappedFile::Contains(const void* p, size_t n) const {
  const char* c = static_cast<const char*>(p);
  return data_ != nullptr && c >= data_ && n <= size_ && c - data_ <= static_cast<ptrdiff_t>(size_ - n);
}

}  // namespace zt::worker::io
