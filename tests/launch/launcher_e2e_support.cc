#include "tests/launch/launcher_e2e_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "launch/ssh_preflight.h"

extern char** environ;

namespace zt::launch::testing {
namespace {

std::vector<std::string> Environment() {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) env.emplace_back(*entry);
  return env;
}

}  // namespace

ShellResult Shell(const std::string& command, absl::Duration timeout) {
  absl::StatusOr<CommandResult> run =
      RunCommand({"/bin/sh", "-c", command}, Environment(), timeout);
  if (!run.ok()) return ShellResult{-1, run.status().ToString()};
  return ShellResult{run->exit_code, run->output};
}

std::string MissingPrerequisite(const std::vector<std::string>& programs) {
  if (geteuid() != 0) return "needs root (network namespaces, sshd, slurmd)";
  for (const std::string& program : programs) {
    if (Shell(absl::StrCat("command -v ", program, " >/dev/null")).exit_code != 0) {
      return absl::StrCat("'", program, "' is not installed (scripts/setup.sh installs it)");
    }
  }
  return "";
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int Count(const std::string& text, const std::string& needle) {
  int count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

int FreePort(const std::vector<int>& avoid) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t length = sizeof address;
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port = ntohs(address.sin_port);
    }
    close(fd);
    if (port != 0 && std::find(avoid.begin(), avoid.end(), port) == avoid.end()) return port;
  }
  return 0;
}

std::string Quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

Background::Background(const std::string& command, const std::string& log) : log_(log) {
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid_, pid_);
}

Background::~Background() {
  if (exited_) return;
  kill(-pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

int Background::Wait(absl::Time deadline) {
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return -1;
}

bool AwaitOutput(const std::string& log, const std::string& needle, int times, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (Count(Slurp(log), needle) >= times) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

std::vector<pid_t> FindProcesses(const std::string& comm, const std::string& variable) {
  std::vector<pid_t> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (dirent* entry = readdir(proc)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    const std::string base = absl::StrCat("/proc/", pid);
    if (absl::StripTrailingAsciiWhitespace(Slurp(base + "/comm")) != comm) continue;
    const std::string environment = Slurp(base + "/environ");
    for (absl::string_view item : absl::StrSplit(environment, '\0')) {
      if (item == variable) {
        found.push_back(pid);
        break;
      }
    }
  }
  closedir(proc);
  return found;
}

}  // namespace zt::launch::testing
