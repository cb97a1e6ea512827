// The gpu label: the real Trainer on cuda:0 with an NCCL communicator at world size 1 (the
// communicator CreateCommunicator builds for a CUDA rank, unique id through the store) against
// the same HF Trainer goldens as the CPU run, at ZeRO stage 0, ZeRO-2 with the optimizer
// offloaded, and ZeRO-3, for LoRA and full fine-tuning.
#include <gtest/gtest.h>

#include <memory>

#include "absl/time/clock.h"
#include "common/torch_compat.h"
#include "sharding/collectives/communicator_factory.h"
#include "sharding/collectives/in_memory_store.h"
#include "tests/support/temp_dir.h"
#include "tests/worker/train/trainer_golden_support.h"

namespace zt::worker::train::testing {
namespace {

class TrainGpuTest : public ::testing::TestWithParam<GoldenRun> {};

TEST_P(TrainGpuTest, NcclRankOnCudaMatchesHf) {
  ASSERT_TRUE(common::CudaAvailable()) << "the gpu label needs a CUDA device";
  auto store = std::make_shared<sharding::InMemoryStore>();
  sharding::CommunicatorSpec spec;
  spec.backend = "nccl";
  spec.device = 0;
  spec.store = store;
  spec.key_prefix = "train/data_parallel";
  absl::StatusOr<std::unique_ptr<sharding::Communicator>> comm =
      sharding::CreateCommunicator(spec, absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(comm.ok()) << comm.status();
  EXPECT_EQ((*comm)->BackendName(), "nccl");
  TrainerPlacement placement;
  placement.store = store;
  placement.device = c10::Device(c10::kCUDA, 0);
  zt::testing::TempDir dir;
  RunGoldenRank(GetParam(), std::move(*comm), placement, dir.Join("out"));
}

std::vector<GoldenRun> GpuRuns() {
  std::vector<GoldenRun> runs;
  for (const char* golden : {"lora_gas1", "full_gas1"}) {
    for (const char* ds : {"zero0", "zero2_offload_auto", "zero3"}) {
      runs.push_back({golden, ds, c10::Device(c10::kCUDA, 0)});
    }
  }
  return runs;
}

INSTANTIATE_TEST_SUITE_P(Cuda, TrainGpuTest, ::testing::ValuesIn(GpuRuns()),
                         [](const ::testing::TestParamInfo<GoldenRun>& info) {
                           return GoldenRunName(info.param);
                         });

}  // namespace
}  // namespace zt::worker::train::testing
