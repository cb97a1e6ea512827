// Durable file operations for checkpoints: SHA-256 of a file (OpenSSL EVP), fsync of files and
// folders, small files written through a temporary name and renamed into place, and removal
// that never leaves a half-deleted folder under its final name. Every error names the path.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace zt::worker::train {

struct FileDigest {
  std::string sha256;  // lowercase hex
  int64_t bytes = 0;
};

// Reads `path` through and hashes it. NotFound / Internal naming the path.
absl::StatusOr<FileDigest> Sha256File(const std::string& path);
// SHA-256 of `data`, lowercase hex.
std::string Sha256Hex(const std::string& data);

// fsync(2) of a file or a folder (a folder's entries: creations, renames). Internal naming it.
absl::Status FsyncPath(const std::string& path);

// Writes `content` to `path` via `path`.tmp: write, fsync, rename, fsync the parent folder.
absl::Status WriteFileDurably(const std::string& path, const std::string& content);

// The whole file. NotFound / Internal naming the path.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

// Renames `dir` to a hidden sibling first, then deletes it, so a deletion cut short never leaves
// a partial folder under its old name. No-op when `dir` does not exist.
absl::Status RemoveFolder(const std::string& dir);

}  // namespace zt::worker::train
