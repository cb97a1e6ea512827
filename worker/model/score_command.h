// `zerotune-worker score --model DIR [--adapter DIR] [--dtype fp32|bf16] --ids 3,14,15,92
//                        [--greedy N]`
// Prints one JSON object: "loss" (mean next-token cross-entropy over the ids, in fp32; null for
// a single id), "last_top5" (the 5 highest-scoring ids at the last position, best first) and,
// with --greedy N, "greedy" (N greedily generated ids, decoded with a KV cache). Needs no
// tokenizer files.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace CLI {
class App;
}

namespace zt::worker::model {

struct ScoreRequest {
  std::string model;
  std::string adapter;
  std::string dtype = "fp32";
  std::string ids;  // "3,14,15,92"
  int64_t greedy = 0;
};

// The JSON line the command prints. InvalidArgument naming --ids for ids that do not parse or
// fall outside [0, vocab_size).
absl::StatusOr<std::string> RunScore(const ScoreRequest& request);

void AddScoreCommand(CLI::App& app);

}  // namespace zt::worker::model
