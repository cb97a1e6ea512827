// The training loop equals the HF Trainer at 2 and 4 Gloo ranks (real processes; the HF goldens
// are real torchrun runs): every logged step, eval_loss, and the final weights or adapter
// (trainer_golden_support.h).
#include <gtest/gtest.h>

#include "tests/worker/train/trainer_golden_support.h"

namespace zt::worker::train::testing {
namespace {

class TrainerGoldenMultirankTest : public ::testing::TestWithParam<GoldenRun> {};

TEST_P(TrainerGoldenMultirankTest, EveryStepAndTheOutputEqualHf) { RunGoldenTest(GetParam()); }

std::vector<GoldenRun> MultiRankRuns() {
  std::vector<GoldenRun> runs;
  for (const char* ds :
       {"zero0", "zero1", "zero2", "zero3", "zero2_offload_auto", "zero3_offload"}) {
    runs.push_back({"full_w2_gas4", ds});
  }
  for (const char* ds : {"zero2", "zero3"}) {
    runs.push_back({"full_w2_gas1", ds});
    runs.push_back({"full_w4_gas2", ds});
  }
  runs.push_back({"full_w2_per_micro_batch", "zero2"});
  runs.push_back({"full_w2_eval", "zero1"});
  runs.push_back({"full_w2_eval_batch2", "zero3"});
  runs.push_back({"full_w2_short_window", "zero2"});
  runs.push_back({"full_w2_short_micro_batch", "zero3"});
  runs.push_back({"lora_w2_gas2", "zero2"});
  runs.push_back({"lora_w2_gas2", "zero3_offload"});
  return runs;
}

INSTANTIATE_TEST_SUITE_P(Ranks, TrainerGoldenMultirankTest, ::testing::ValuesIn(MultiRankRuns()),
                         [](const ::testing::TestParamInfo<GoldenRun>& info) {
                           return GoldenRunName(info.param);
                         });

}  // namespace
}  // namespace zt::worker::train::testing
