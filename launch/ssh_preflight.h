// The pre-flight of `zerotune launch --hostfile`, before any rank starts: every remote host is
// reached over ssh (BatchMode=yes) once, and must have the worker program at the same path
// with the same contents (sha256 equal to this machine's copy: the same version) and the
// launcher's working directory (remote ranks run there). Hosts are checked one after another,
// each within `timeout`.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "launch/ssh_spawner.h"

namespace zt::launch {

struct HostReport {
  std::string host;
  // This machine's address as that host saw the ssh connection (SSH_CONNECTION's first
  // field): routable from there, the default --master_addr.
  std::string launcher_address;
};

struct CommandResult {
  int exit_code = -1;  // -1: killed at the timeout
  std::string output;  // stdout and stderr together
};

// Runs `argv` with `env`, stdin from /dev/null, and collects its output; kills it (its
// process group) at `timeout`. Internal when it cannot be started.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& env, absl::Duration timeout);

// Unavailable naming the host and ssh's message when a host cannot be reached;
// FailedPrecondition naming the host and path when the worker is missing or differs, or the
// working directory does not exist there.
absl::StatusOr<std::vector<HostReport>> PreflightHosts(const std::vector<std::string>& hosts,
                                                       const SshOptions& ssh,
                                                       const std::string& worker_path,
                                                       const std::string& cwd,
                                                       const std::vector<std::string>& launcher_env,
                                                       absl::Duration timeout = absl::Seconds(30));

}  // namespace zt::launch
