// How a `zerotune-worker` subcommand ends on an error: the absl::Status message is logged
// (common/log.h, level error) as "zerotune-worker <command>: <message>" and the process exits
// with status 1 (2 for bad arguments), through CLI11's RuntimeError so main() unwinds normally.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace zt::worker {

inline void ExitIfError(const std::string& command, const absl::Status& status) {
  if (status.ok()) return;
  log::Error(absl::StrCat("zerotune-worker ", command, ": ", status.message()));
  throw CLI::RuntimeError(status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
}

}  // namespace zt::worker
