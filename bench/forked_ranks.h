// Benchmarks that need W real ranks on one machine: fork W children, each running `rank_main`
// with its rank and a fresh scratch folder (holding "store/" for a FileStore rendezvous), wait
// for all of them and remove the folder. Returns 0 when every rank exited 0, else 1.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace zt::bench {

inline int RunForkedRanks(int world, const std::string& name,
                          const std::function<int(int rank, const std::string& dir)>& rank_main) {
  namespace fs = std::filesystem;
  const std::string dir =
      fs::temp_directory_path().string() + "/" + name + "." + std::to_string(::getpid());
  fs::create_directories(dir + "/store");
  std::vector<pid_t> children;
  for (int rank = 0; rank < world; ++rank) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int code = rank_main(rank, dir);
      std::fflush(stdout);
      std::_Exit(code);
    }
    children.push_back(pid);
  }
  int failed = 0;
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  fs::remove_all(dir);
  return failed == 0 ? 0 : 1;
}

}  // namespace zt::bench
