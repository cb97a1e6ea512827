// Shared pieces of the launcher e2e tests (real sshd, mpirun, Slurm): shell commands with a
// deadline, background processes with their output in a file, /proc look-ups of the rank
// processes a launcher started, and the skip rule (root and the daemons' programs, which
// scripts/setup.sh installs; under CI=true a skip fails the run).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace zt::launch::testing {

struct ShellResult {
  int exit_code = -1;  // -1: killed at the deadline
  std::string output;
};

// `sh -c command` (stdout and stderr together), killed after `timeout`.
ShellResult Shell(const std::string& command, absl::Duration timeout = absl::Seconds(60));

// "" when the test can run; else why not (not root, or a program missing from PATH).
std::string MissingPrerequisite(const std::vector<std::string>& programs);

std::string Slurp(const std::string& path);
int Count(const std::string& text, const std::string& needle);
// A TCP port nobody listens on: bound as port 0, read back, closed. `avoid` ports are skipped.
int FreePort(const std::vector<int>& avoid = {});

// `text` single-quoted for sh.
std::string Quote(const std::string& text);

// A process started with `sh -c command` in its own process group, output to `log`; killed
// with its group on destruction unless it exited.
class Background {
 public:
  Background(const std::string& command, const std::string& log);
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  pid_t pid() const { return pid_; }
  // The exit code (128+N for a signal), or -1 while still running at `deadline`.
  int Wait(absl::Time deadline);
  std::string output() const { return Slurp(log_); }

 private:
  std::string log_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

// Polls `log` until it holds `needle` `times` times; false at `timeout`.
bool AwaitOutput(const std::string& log, const std::string& needle, int times, absl::Duration timeout);

// pids of the processes named `comm` whose environment has NAME=value `variable` (e.g.
// "OMPI_COMM_WORLD_RANK=1").
std::vector<pid_t> FindProcesses(const std::string& comm, const std::string& variable);

}  // namespace zt::launch::testing
