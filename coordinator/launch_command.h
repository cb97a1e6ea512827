// `zerotune launch [options] -- [worker subcommand] <worker arguments>`: starts the
// coordinator in this process (127.0.0.1, a free port unless --port) and the ranks of this
// node (--nproc_per_node), restarts them from their last checkpoint after a failure up to
// --max_restarts, owns the terminal's progress line, and exits with the job's outcome:
// 0 succeeded, 75 stopped after a checkpoint-and-stop (SIGTERM/SIGINT or `zerotune stop
// --checkpoint`), 1 failed (the root-cause report goes to stderr), 2 bad arguments.
// The worker arguments go to `zerotune-worker` (next to this program, else on PATH, or
// --worker); when they start with an option the subcommand is `train`. The job is findable
// by `zerotune status --job_dir <output_dir>` while it runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/App.hpp"

namespace zt::coordinator {

struct LaunchRequest {
  int nproc_per_node = 1;
  int max_restarts = 0;
  int64_t heartbeat_interval_ms = 1000;
  int64_t heartbeat_timeout_ms = 10000;
  int64_t abort_grace_ms = 5000;
  int64_t rendezvous_timeout_s = 600;
  std::string bind_address = "127.0.0.1";
  int port = 0;
  std::string tls_cert;
  std::string tls_key;
  std::string job_id;
  std::string output_dir;  // default: the worker arguments' --output_dir
  std::string worker;      // default: zerotune-worker beside this program
  std::vector<std::string> worker_args;
};

// The command's body; returns the exit code.
int RunLaunch(const LaunchRequest& request);

void AddLaunchCommand(CLI::App& app);

}  // namespace zt::coordinator
