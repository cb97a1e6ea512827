// Starting and stopping rank processes. Each child leads its own process group (so a rank's
// own children die with it when the group is killed) and gets PR_SET_PDEATHSIG=SIGKILL (so it
// never outlives the launcher). The interface lets the launcher's restart logic be tested
// with a fake. Implementations are not thread-safe; the launcher drives one from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace zt::launch {

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  std::vector<std::string> env;   // the child's whole environment, "NAME=value"
  std::string host;               // "" = this machine; else a remote host (SshSpawner)
  // stdin: a pipe this process keeps open until the child is reaped (no EOF while it runs,
  // EOF as soon as this process dies); false: inherited.
  bool stdin_pipe = false;
  std::string stdin_data;  // written into that pipe at once (secrets kept out of argv); < 64 KiB
};

struct ChildExit {
  std::optional<int> exit_code;
  std::optional<int> signal;
};

class ProcessSpawner {
 public:
  virtual ~ProcessSpawner() = default;
  // The child's pid (also its process group id). Internal naming argv[0] when fork fails.
  virtual absl::StatusOr<int64_t> Spawn(const SpawnSpec& spec) = 0;
  // The exit of `pid` if it ended (reaps it), nullopt while it runs. Never blocks.
  virtual std::optional<ChildExit> TryReap(int64_t pid) = 0;
  // Sends `signal` to the process group led by `pid`.
  virtual void SignalGroup(int64_t pid, int signal) = 0;
};

// fork + setpgid + prctl(PR_SET_PDEATHSIG) + execvpe. An exec failure exits the child 127
// after printing the reason on its stderr.
std::unique_ptr<ProcessSpawner> NewPosixSpawner();

}  // namespace zt::launch
