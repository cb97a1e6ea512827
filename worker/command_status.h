// How a `zerotune-worker` subcommand ends on an error: the absl::Status message goes to stderr
// as "zerotune-worker <command>: <message>" and the process exits with status 1 (2 for bad
// arguments), through CLI11's RuntimeError so main() unwinds normally.
#pragma once

#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"

namespace zt::worker {

inline void ExitIfError(const std::string& command, const absl::Status& status) {
  if (status.ok()) return;
  std::cerr << "zerotune-worker " << command << ": " << status.message() << "\n";
  throw CLI::RuntimeError(status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
}

}  // namespace zt::worker
