// Rank processes on other hosts, started with the system's `ssh` client (BatchMode=yes: never
// a password prompt). The remote command carries the rank's whole environment and argv
// (`env -i K=V ... worker args`, every word single-quoted for POSIX sh), so nothing depends on
// the remote login environment. Remotely the rank leads its own session and process group
// (setsid); a watcher holding the ssh channel's stdin kills that group with SIGKILL when the
// channel closes, so killing the local ssh client (what the launcher does to a rank after the
// abort grace) reaches the remote process group. The ssh client's stdin is a pipe the launcher
// holds, so the launcher's own death (even SIGKILL) also ends the remote ranks. Output comes back on the ssh client's
// stdout/stderr; the remote exit status comes back as ssh's (128+N for a signal N, which
// TryReap reports as the signal; 255 is ssh's own failure).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "launch/process_spawner.h"

namespace zt::launch {

struct SshOptions {
  std::string ssh = "ssh";           // the client program
  int port = 0;                      // -p; 0: ssh's own default (ssh_config)
  std::vector<std::string> options;  // "Key=Value" → -o Key=Value (after BatchMode=yes)
  int connect_timeout_s = 10;
};

// `text` as one POSIX sh word: '...' with each ' written as '\''.
std::string ShellQuote(absl::string_view text);

// ssh's argv for running `remote_command` on `host`.
std::vector<std::string> SshArgv(const SshOptions& options, const std::string& host,
                                 const std::string& remote_command);

// The remote command (for the login shell of the remote user) that runs `argv` with exactly
// `env` in `cwd` as described above; exits 126 when `cwd` does not exist there. The job token
// (ZEROTUNE_TOKEN) is not in the command line, where any user of the host could read it: the
// command reads it as the first line of its stdin, `stdin` below.
struct RemoteCommand {
  std::string command;
  std::string stdin;
};
RemoteCommand RemoteRankCommand(const std::vector<std::string>& argv,
                                const std::vector<std::string>& env, const std::string& cwd);

// Specs with a host go through ssh (`launcher_env` is the ssh client's own environment: HOME,
// SSH_AUTH_SOCK, PATH); the others go to `local` unchanged.
class SshSpawner final : public ProcessSpawner {
 public:
  SshSpawner(std::unique_ptr<ProcessSpawner> local, SshOptions options, std::string cwd,
             std::vector<std::string> launcher_env);

  absl::StatusOr<int64_t> Spawn(const SpawnSpec& spec) override;
  std::optional<ChildExit> TryReap(int64_t pid) override;
  void SignalGroup(int64_t pid, int signal) override { local_->SignalGroup(pid, signal); }

 private:
  std::unique_ptr<ProcessSpawner> local_;
  SshOptions options_;
  std::string cwd_;
  std::vector<std::string> launcher_env_;
  absl::flat_hash_set<int64_t> remote_pids_;
};

}  // namespace zt::launch
