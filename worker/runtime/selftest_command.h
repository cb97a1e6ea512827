// `zerotune-worker selftest --steps N --save_every K --output_dir DIR [--step_ms MS]`: the
// smallest real workload of the coordinator protocol. It registers, builds a Gloo
// communicator through the coordinator's store, and each step all-reduces [1, stop] across
// ranks, adding the sum to a counter; every K steps (and at a requested stop) each rank saves
// {step, counter} to DIR/selftest/step-<s>/rank-<r>.json and, after a barrier, rank 0 writes
// DIR/selftest/latest (written last, so a checkpoint is complete or ignored). A restarted rank
// resumes from `latest`, so after N steps the counter is N * world_size however many restarts
// happened. Rank 0 reports loss/learning_rate/counter metrics each step.
// Exit codes: 0 done, 75 stopped after a checkpoint-and-stop, 1 on errors (error file written).
// Test hooks: --fail_at_step S --fail_rank R makes rank R fail at step S (first generation).
#pragma once

#include <cstdint>
#include <string>

#include "CLI/App.hpp"

namespace zt::worker {

struct SelftestOptions {
  int64_t steps = 20;
  int64_t save_every = 5;
  std::string output_dir;
  int64_t step_ms = 20;
  int64_t fail_at_step = -1;
  int fail_rank = -1;
};

// Runs the selftest in this process (a rank started by `zerotune launch`); the exit code.
int RunSelftest(const SelftestOptions& options);

void AddSelftestCommand(CLI::App& app);

}  // namespace zt::worker
