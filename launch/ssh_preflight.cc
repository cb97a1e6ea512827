#include "launch/ssh_preflight.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace zt::launch {
namespace {

// The value after `marker` up to the end of its line, or "".
std::string Field(const std::string& output, const std::string& marker) {
  const size_t at = output.find(marker);
  if (at == std::string::npos) return "";
  const size_t start = at + marker.size();
  return output.substr(start, output.find('\n', start) - start);
}

std::string LastLine(const std::string& text) {
  const absl::string_view trimmed = absl::StripTrailingAsciiWhitespace(text);
  const size_t newline = trimmed.rfind('\n');
  return std::string(newline == absl::string_view::npos ? trimmed : trimmed.substr(newline + 1));
}

}  // namespace

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& env, absl::Duration timeout) {
  std::vector<char*> args, envp;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  for (const std::string& entry : env) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork for '", argv[0], "': ", std::strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    const int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    execvpe(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(fds[1]);
  CommandResult result;
  const absl::Time deadline = absl::Now() + timeout;
  bool timed_out = false;
  char buffer[4096];
  while (true) {
    pollfd entry{fds[0], POLLIN, 0};
    const int wait_ms = static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now())));
    const int ready = poll(&entry, 1, wait_ms);
    if (ready == 0) {
      timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    if (ready < 0 && errno == EINTR) continue;
    const ssize_t n = read(fds[0], buffer, sizeof buffer);
    if (n <= 0) break;
    result.output.append(buffer, n);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!timed_out) result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

absl::StatusOr<std::vector<HostReport>> PreflightHosts(const std::vector<std::string>& hosts,
                                                       const SshOptions& ssh,
                                                       const std::string& worker_path,
                                                       const std::string& cwd,
                                                       const std::vector<std::string>& launcher_env,
                                                       absl::Duration timeout) {
  absl::StatusOr<CommandResult> local = RunCommand({"sha256sum", "--", worker_path}, launcher_env, timeout);
  if (!local.ok()) return local.status();
  if (local->exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat("pre-flight: cannot read the worker program '", worker_path,
                                                      "' on this machine: ", LastLine(local->output)));
  }
  const std::string local_sum = std::vector<std::string>(absl::StrSplit(local->output, ' '))[0];
  const std::string script = absl::StrCat(
      "echo \"zt-connection: $SSH_CONNECTION\"; cd ", ShellQuote(cwd), " 2>/dev/null || echo zt-no-cwd; ",
      "if [ -x ", ShellQuote(worker_path), " ]; then echo \"zt-sum: $(sha256sum -- ", ShellQuote(worker_path),
      ")\"; else echo zt-no-worker; fi");
  std::vector<HostReport> reports;
  for (const std::string& host : hosts) {
    absl::StatusOr<CommandResult> run =
        RunCommand(SshArgv(ssh, host, absl::StrCat("exec sh -c ", ShellQuote(script))), launcher_env, timeout);
    if (!run.ok()) return run.status();
    if (run->exit_code != 0) {
      return absl::UnavailableError(absl::StrCat(
          "pre-flight: cannot reach host '", host, "' over ssh (",
          run->exit_code < 0 ? absl::StrCat("no answer within ", absl::FormatDuration(timeout))
                             : absl::StrCat("exit ", run->exit_code),
          "): ", LastLine(run->output), "; hint: ranks are started with `ssh -o BatchMode=yes`, so a key "
          "must log in without a password"));
    }
    if (absl::StrContains(run->output, "zt-no-cwd")) {
      return absl::FailedPreconditionError(absl::StrCat("pre-flight: host '", host, "' has no directory '", cwd,
                                                        "' (remote ranks run in the launcher's working directory)"));
    }
    if (absl::StrContains(run->output, "zt-no-worker")) {
      return absl::FailedPreconditionError(absl::StrCat("pre-flight: host '", host, "' has no executable '",
                                                        worker_path, "' (the worker must be installed at the same path)"));
    }
    const std::string remote_sum = std::vector<std::string>(absl::StrSplit(Field(run->output, "zt-sum: "), ' '))[0];
    if (remote_sum != local_sum) {
      return absl::FailedPreconditionError(absl::StrCat(
          "pre-flight: '", worker_path, "' on host '", host, "' is not the same program as on this machine (sha256 ",
          remote_sum.empty() ? "unreadable" : remote_sum.substr(0, 12), " there, ", local_sum.substr(0, 12),
          " here); install the same zerotune version on every host"));
    }
    const std::string connection = Field(run->output, "zt-connection: ");
    reports.push_back(HostReport{host, std::vector<std::string>(absl::StrSplit(connection, ' '))[0]});
  }
  return reports;
}

}  // namespace zt::launch
