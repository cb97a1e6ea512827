// Benchmarks that need W real ranks on one machine: fork W children, each running `rank_main`
// with its rank and a fresh scratch folder (holding "store/" for a FileStore rendezvous), wait
// for all of them and remove the folder. Returns 0 when every rank exited 0, else 1. Each rank
// joins the others with ConnectGlooRank.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "sharding/collectives/file_store.h"
#include "sharding/collectives/gloo_communicator.h"
#include "sharding/collectives/prefix_store.h"

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

// Rank `rank` of `world` over Gloo on loopback, meeting the others through the FileStore in
// `dir`/store (the folder RunForkedRanks made), scoped as job "bench", generation 0.
struct BenchRank {
  std::shared_ptr<sharding::Store> store;
  std::shared_ptr<sharding::Communicator> comm;
};

inline absl::StatusOr<BenchRank> ConnectGlooRank(const std::string& dir, int rank, int world,
                                                 absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<sharding::FileStore>> base =
      sharding::FileStore::Open(dir + "/store");
  if (!base.ok()) return base.status();
  absl::StatusOr<std::unique_ptr<sharding::PrefixStore>> scoped =
      sharding::JobStore(std::move(*base), "bench", 0);
  if (!scoped.ok()) return scoped.status();
  BenchRank out;
  out.store = std::move(*scoped);
  sharding::GlooOptions gloo;
  gloo.hostname = "127.0.0.1";
  auto comm = sharding::GlooCommunicator::Create(out.store, rank, world, absl::Now() + timeout, gloo);
  if (!comm.ok()) return comm.status();
  out.comm = std::move(*comm);
  return out;
}

}  // namespace zt::bench
