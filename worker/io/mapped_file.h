// A whole file mapped into memory, copy-on-write: the bytes can be read (and written through
// tensors that alias them) without touching the file. RAII over the mapping; move-only.
// Thread-safe for concurrent reads.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zt::worker::io {

class MappedFile {
 public:
  // NotFound / PermissionDenied / Internal naming `path` and errno's text.
  static absl::StatusOr<std::shared_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  char* data() const { return data_; }
  size_t size() const { return size_; }
  absl::string_view bytes() const { return absl::string_view(data_, size_); }
  // True when [p, p + n) lies inside the mapping.
  bool Contains(const void* p, size_t n) const;

 private:
  MappedFile(std::string path, char* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  char* data_ = nullptr;  // nullptr for an empty file
  size_t size_ = 0;
};

}  // namespace zt::worker::io
