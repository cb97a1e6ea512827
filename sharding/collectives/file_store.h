// A Store in a folder that every rank can reach (one machine, or a shared filesystem across
// nodes, as torch's FileStore and Gloo's FileStore). One file per key, written to a temporary
// name and renamed, so readers see whole values only; Add() is serialised across processes by
// flock() on the folder's lock file. Waiters poll with exponential backoff (1 ms .. 50 ms).
#pragma once

#include <memory>
#include <string>

#include "sharding/collectives/store.h"

namespace zt::sharding {

class FileStore final : public Store {
 public:
  // Opens (creating if needed) the store folder `dir`.
  static absl::StatusOr<std::unique_ptr<FileStore>> Open(std::string dir);

  absl::Status Set(absl::string_view key, absl::string_view value) override;
  absl::StatusOr<std::string> Get(absl::string_view key, absl::Time deadline) override;
  absl::Status Wait(absl::Span<const std::string> keys, absl::Time deadline) override;
  absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta) override;
  absl::StatusOr<bool> Delete(absl::string_view key) override;
  absl::StatusOr<bool> Check(absl::Span<const std::string> keys) override;

  const std::string& dir() const { return dir_; }

 private:
  explicit FileStore(std::string dir) : dir_(std::move(dir)) {}

  absl::StatusOr<std::string> PathFor(absl::string_view key) const;
  // NotFound when absent.
  absl::StatusOr<std::string> ReadValue(absl::string_view key) const;
  absl::Status WriteValue(absl::string_view key, absl::string_view value) const;

  std::string dir_;
};

// Key <-> file name: bytes outside [A-Za-z0-9_-] ('.' included) become %XX, so any key is a safe,
// flat, non-hidden file name. Keys whose name would pass 240 bytes are InvalidArgument.
absl::StatusOr<std::string> EncodeKeyFileName(absl::string_view key);
// Inverse of EncodeKeyFileName; InvalidArgument for names it could not have produced.
absl::StatusOr<std::string> DecodeKeyFileName(absl::string_view name);

}  // namespace zt::sharding
