// The training loop equals the HF Trainer at 1 rank: every logged step's loss, grad_norm and
// learning_rate, eval_loss, and the final weights or adapter, for each golden case of
// tests/data/trainer_goldens under the ZeRO configs it names (trainer_golden_support.h), on the
// CPU and, on a GPU host, on cuda:0 (the same cases, the same tolerance).
#include <gtest/gtest.h>

#include "tests/support/test_devices.h"
#include "tests/worker/train/trainer_golden_support.h"

namespace zt::worker::train::testing {
namespace {

class TrainerGoldenTest : public ::testing::TestWithParam<GoldenRun> {};

TEST_P(TrainerGoldenTest, EveryStepAndTheOutputEqualHf) { RunGoldenTest(GetParam()); }

// Every stage and offload variant on accumulation 1 (full and LoRA) and on one accumulating
// case; each other feature once; on every test device (the CPU, and cuda:0 on a GPU host).
std::vector<GoldenRun> OneRankRunsOn(const c10::Device& device) {
  std::vector<GoldenRun> runs;
  for (const char* golden : {"full_gas1", "lora_gas1"}) {
    for (const char* ds :
         {"zero0", "zero1", "zero2", "zero3", "zero2_offload_auto", "zero3_offload"}) {
      runs.push_back({golden, ds});
    }
  }
  for (const char* ds : {"zero1", "zero3"}) runs.push_back({"full_gas4_constant", ds});
  for (const char* golden :
       {"full_gas2_cosine", "full_gas8_max_steps", "full_gas8_per_micro_batch",
        "full_short_micro_batch", "full_short_window", "full_short_window_per_micro_batch",
        "full_eval", "lora_gas4_cosine", "lora_adapter"}) {
    runs.push_back({golden, "zero2"});
  }
  runs.push_back({"lora_adapter", "zero3"});
  for (GoldenRun& run : runs) run.device = device;
  return runs;
}

std::vector<GoldenRun> OneRankRuns() {
  std::vector<GoldenRun> runs;
  for (const c10::Device& device : zt::testing::TestDevices()) {
    for (GoldenRun& run : OneRankRunsOn(device)) runs.push_back(std::move(run));
  }
  return runs;
}

INSTANTIATE_TEST_SUITE_P(OneRank, TrainerGoldenTest, ::testing::ValuesIn(OneRankRuns()),
                         [](const ::testing::TestParamInfo<GoldenRun>& info) {
                           return GoldenRunName(info.param);
                         });

}  // namespace
}  // namespace zt::worker::train::testing
