// DeepSpeed/MPI-style hostfiles: one "host slots=N" line per node (slots = GPUs used there),
// '#' comment lines and blank lines ignored. Host order is rank order (node-major).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zt::launch {

struct HostSlots {
  std::string host;
  int slots = 0;
  bool operator==(const HostSlots& other) const { return host == other.host && slots == other.slots; }
};

// Parses hostfile text as DeepSpeed does (each line stripped, then `^(\S+)\s+slots=(\d+)`;
// text after the slot count is ignored). `path` is only used in messages. InvalidArgument,
// naming path:line and the line, for a malformed line, a host listed twice, a slot count of 0
// or beyond 1<<16, or a file without any host.
absl::StatusOr<std::vector<HostSlots>> ParseHostfile(absl::string_view text, absl::string_view path);

// Reads and parses the file at `path` (NotFound if it does not exist).
absl::StatusOr<std::vector<HostSlots>> ReadHostfile(const std::string& path);

}  // namespace zt::launch
