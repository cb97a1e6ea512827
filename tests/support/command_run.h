// Running a command line (the built CLIs) from a test: exit code, stdout and stderr.
#pragma once

#include <string>

namespace zt::testing {

struct CommandRun {
  int exit_code = -1;  // -1: did not start or did not exit normally
  std::string out;
  std::string err;
};

// Runs `command` through /bin/sh with `stdin_text` on its standard input; the captured streams
// pass through files in `scratch_dir` (which must exist).
CommandRun RunCommand(const std::string& command, const std::string& scratch_dir,
                      const std::string& stdin_text = "");

}  // namespace zt::testing
