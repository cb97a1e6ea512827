#include "launch/ssh_spawner.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace zt::launch {

std::string ShellQuote(absl::string_view text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  quoted += "'";
  return quoted;
}

std::vector<std::string> SshArgv(const SshOptions& options, const std::string& host,
                                 const std::string& remote_command) {
  std::vector<std::string> argv = {options.ssh, "-o", "BatchMode=yes", "-o",
                                   absl::StrCat("ConnectTimeout=", options.connect_timeout_s)};
  if (options.port > 0) {
    argv.push_back("-p");
    argv.push_back(absl::StrCat(options.port));
  }
  for (const std::string& option : options.options) {
    argv.push_back("-o");
    argv.push_back(option);
  }
  argv.push_back("--");
  argv.push_back(host);
  argv.push_back(remote_command);
  return argv;
}

RemoteCommand RemoteRankCommand(const std::vector<std::string>& argv,
                                const std::vector<std::string>& env, const std::string& cwd) {
  constexpr absl::string_view kSecret = "ZEROTUNE_TOKEN=";
  std::string secret;
  std::vector<std::string> words = {"setsid", "env", "-i"};
  for (const std::string& entry : env) {
    if (absl::StartsWith(entry, kSecret)) {
      secret = entry.substr(kSecret.size());
      words.push_back("\"ZEROTUNE_TOKEN=$zt_token\"");
    } else {
      words.push_back(ShellQuote(entry));
    }
  }
  for (const std::string& arg : argv) words.push_back(ShellQuote(arg));
  // fd 3 keeps the channel's stdin: a background list's own stdin is /dev/null in sh. The
  // watcher's cat ends when sshd closes the channel (client gone or rank done) and then kills
  // the rank's group (pgid = its pid: setsid without fork, it is not a group leader).
  // `read` takes the token line byte by byte, leaving the rest of the channel to the watcher.
  const std::string script = absl::StrCat(
      "exec 3<&0 </dev/null; IFS= read -r zt_token <&3; cd ", ShellQuote(cwd), " || exit 126; ",
      absl::StrJoin(words, " "),
      " 3<&- & child=$!; { cat <&3 >/dev/null 2>&1; kill -s KILL -- -$child 2>/dev/null; } "
      ">/dev/null 2>&1 & exec 3<&-; wait $child");
  return RemoteCommand{absl::StrCat("exec sh -c ", ShellQuote(script)), secret + "\n"};
}

SshSpawner::SshSpawner(std::unique_ptr<ProcessSpawner> local, SshOptions options, std::string cwd,
                       std::vector<std::string> launcher_env)
    : local_(std::move(local)),
      options_(std::move(options)),
      cwd_(std::move(cwd)),
      launcher_env_(std::move(launcher_env)) {}

absl::StatusOr<int64_t> SshSpawner::Spawn(const SpawnSpec& spec) {
  if (spec.host.empty()) return local_->Spawn(spec);
  // The channel's stdin stays open while this launcher lives: its EOF is the remote kill.
  const RemoteCommand remote = RemoteRankCommand(spec.argv, spec.env, cwd_);
  SpawnSpec ssh{SshArgv(options_, spec.host, remote.command), launcher_env_, "", /*stdin_pipe=*/true,
                remote.stdin};
  absl::StatusOr<int64_t> pid = local_->Spawn(ssh);
  if (pid.ok()) remote_pids_.insert(*pid);
  return pid;
}

std::optional<ChildExit> SshSpawner::TryReap(int64_t pid) {
  std::optional<ChildExit> exit = local_->TryReap(pid);
  if (!exit || remote_pids_.erase(pid) == 0) return exit;
  // sh's `wait` reports a rank killed by signal N as 128+N.
  if (exit->exit_code && *exit->exit_code > 128 && *exit->exit_code < 128 + 65) {
    exit->signal = *exit->exit_code - 128;
    exit->exit_code.reset();
  }
  return exit;
}

}  // namespace zt::launch
