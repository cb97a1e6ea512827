// `zerotune launch [options] -- [worker subcommand] <worker arguments>`: starts the
// coordinator in this process (127.0.0.1, a free port unless --port) and the ranks of this
// node (--nproc_per_node), restarts them from their last checkpoint after a failure up to
// --max_restarts, owns the terminal's progress line, and exits with the job's outcome:
// 0 succeeded, 75 stopped after a checkpoint-and-stop (SIGTERM/SIGINT or `zerotune stop
// --checkpoint`), 1 failed (the root-cause report goes to stderr), 2 bad arguments.
// The worker arguments go to `zerotune-worker` (next to this program, else on PATH, or
// --worker); when they start with an option the subcommand is `train`. The job is findable
// by `zerotune status --job_dir <output_dir>` while it runs.
//
// Multi-node: `--hostfile FILE` (DeepSpeed's "host slots=N" format) with --include/--exclude
// or --num_nodes/--num_gpus picks the ranks (node-major, hostfile order). Hosts that are this
// machine (localhost, its host name, one of its addresses) run ranks as above; the others over
// ssh (launch/ssh_spawner.h) after a pre-flight of every remote host (launch/ssh_preflight.h). The
// coordinator listens on --master_addr (default: this machine's address as the first remote
// host sees it) at --master_port (alias of --port); remote ranks get the forwarded
// environment of launch/remote_environment.h (NCCL_*, GLOO_*, ..., --env_file or
// .deepspeed_env) and run in this working directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/App.hpp"
#include "coordinator/kv_table.h"

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
  std::string config;  // --config: a job file of training arguments, before worker_args
  // Multi-node.
  std::string hostfile;
  std::string include;
  std::string exclude;
  int num_nodes = -1;
  bool num_gpus_given = false;  // --num_gpus/--nproc_per_node given: per-host limit with --hostfile
  std::string master_addr;
  bool bind_given = false;
  int ssh_port = 0;
  std::vector<std::string> ssh_options;
  std::string env_file;
  KvLimits store_limits;
};

// The command's body; returns the exit code.
int RunLaunch(const LaunchRequest& request);

void AddLaunchCommand(CLI::App& app);

}  // namespace zt::coordinator
