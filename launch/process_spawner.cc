#include "launch/process_spawner.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace zt::launch {
namespace {

class PosixSpawner final : public ProcessSpawner {
 public:
  absl::StatusOr<int64_t> Spawn(const SpawnSpec& spec) override {
    if (spec.argv.empty()) return absl::InvalidArgumentError("Spawn: empty argv");
    if (!spec.host.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("Spawn: '", spec.host, "' is not this machine"));
    }
    // Everything the child needs is built before fork: after it only async-signal-safe calls.
    std::vector<char*> argv;
    for (const std::string& arg : spec.argv) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> env;
    for (const std::string& entry : spec.env) env.push_back(const_cast<char*>(entry.c_str()));
    env.push_back(nullptr);
    int stdin_fds[2] = {-1, -1};
    if (spec.stdin_pipe && pipe2(stdin_fds, O_CLOEXEC) != 0) {
      return absl::InternalError(absl::StrCat("pipe for '", spec.argv[0], "' failed: ", std::strerror(errno)));
    }
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
      if (spec.stdin_pipe) {
        close(stdin_fds[0]);
        close(stdin_fds[1]);
      }
      return absl::InternalError(absl::StrCat("fork for '", spec.argv[0], "' failed: ", std::strerror(errno)));
    }
    if (pid == 0) {
      setpgid(0, 0);
      if (stdin_fds[0] >= 0) dup2(stdin_fds[0], STDIN_FILENO);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(126);  // the launcher died before prctl took effect
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      execvpe(argv[0], argv.data(), env.data());
      const char* prefix = "zerotune launch: cannot execute ";
      (void)!write(STDERR_FILENO, prefix, std::strlen(prefix));
      (void)!write(STDERR_FILENO, argv[0], std::strlen(argv[0]));
      (void)!write(STDERR_FILENO, "\n", 1);
      _exit(127);
    }
    setpgid(pid, pid);  // also from the parent: no window where the group does not exist
    if (spec.stdin_pipe) {
      close(stdin_fds[0]);
      stdin_writers_[pid] = stdin_fds[1];
      // Fits the pipe's buffer: never blocks, even if the child has not read yet.
      for (size_t done = 0; done < spec.stdin_data.size();) {
        const ssize_t n = write(stdin_fds[1], spec.stdin_data.data() + done, spec.stdin_data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<size_t>(n);
      }
    }
    return static_cast<int64_t>(pid);
  }

  std::optional<ChildExit> TryReap(int64_t pid) override {
    int status = 0;
    const pid_t done = waitpid(static_cast<pid_t>(pid), &status, WNOHANG);
    if (done == 0) return std::nullopt;
    if (auto writer = stdin_writers_.find(pid); writer != stdin_writers_.end()) {
      close(writer->second);
      stdin_writers_.erase(writer);
    }
    ChildExit exit;
    if (done < 0) {
      exit.exit_code = -1;  // not our child any more (reaped elsewhere)
    } else if (WIFEXITED(status)) {
      exit.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      exit.signal = WTERMSIG(status);
    }
    return exit;
  }

  void SignalGroup(int64_t pid, int signal) override { kill(-static_cast<pid_t>(pid), signal); }

 private:
  absl::flat_hash_map<int64_t, int> stdin_writers_;  // pid -> write end of its stdin pipe
};

}  // namespace

std::unique_ptr<ProcessSpawner> NewPosixSpawner() { return std::make_unique<PosixSpawner>(); }

}  // namespace zt::launch
