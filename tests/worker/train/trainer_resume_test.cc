// Save and resume through the real Trainer on every test device (the CPU, and cuda:0 on a GPU
// host) at ZeRO-2 and ZeRO-3: a run saved at step 2 and resumed from checkpoint-2 logs the
// uninterrupted run's steps 3+ bitwise and writes a byte-identical adapter.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "sharding/collectives/in_memory_store.h"
#include "sharding/collectives/self_communicator.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_devices.h"
#include "tests/worker/train/trainer_golden_support.h"
#include "worker/train/trainer.h"

namespace zt::worker::train::testing {
namespace {

class Recorder : public TrainingObserver {
 public:
  absl::Status OnMetrics(int64_t step, int64_t, double,
                         const std::map<std::string, double>& values) override {
    for (const char* key : {"loss", "grad_norm", "learning_rate"}) series[step][key] = values.at(key);
    return absl::OkStatus();
  }
  std::map<int64_t, std::map<std::string, double>> series;  // step -> key -> value
};

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::map<int64_t, std::map<std::string, double>> Train(const configs::TrainingArguments& args,
                                                       const c10::Device& device) {
  Recorder recorder;
  TrainerPlacement placement;
  placement.store = std::make_shared<sharding::InMemoryStore>();
  placement.device = device;
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(
      args, std::make_shared<sharding::SelfCommunicator>(), placement, &recorder);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  if (!trainer.ok()) return {};
  absl::StatusOr<TrainResult> result = (*trainer)->Train();
  EXPECT_TRUE(result.ok()) << result.status();
  return recorder.series;
}

class TrainerResumeTest
    : public ::testing::TestWithParam<std::tuple<c10::Device, std::string>> {};

TEST_P(TrainerResumeTest, AResumedRunContinuesBitwise) {
  const auto& [device, ds_config] = GetParam();
  zt::testing::TempDir dir;
  absl::StatusOr<GoldenCase> golden = ReadGoldenCase("lora_gas4_cosine");
  ASSERT_TRUE(golden.ok()) << golden.status();
  absl::StatusOr<configs::TrainingArguments> args =
      GoldenArguments(*golden, {"lora_gas4_cosine", ds_config}, dir.Join("whole"));
  ASSERT_TRUE(args.ok()) << args.status();
  args->save_strategy = "steps";
  args->save_steps = 2;
  const auto whole = Train(*args, device);
  ASSERT_GE(whole.size(), 4u);
  args->output_dir = dir.Join("resumed");
  args->resume_from_checkpoint = dir.Join("whole/checkpoint-2");
  const auto tail = Train(*args, device);
  ASSERT_EQ(tail.size(), whole.size() - 2);
  for (const auto& [step, values] : tail) EXPECT_EQ(values, whole.at(step)) << "step " << step;
  const std::string adapter = ReadBytes(dir.Join("whole/adapter_model.safetensors"));
  ASSERT_FALSE(adapter.empty());
  EXPECT_EQ(ReadBytes(dir.Join("resumed/adapter_model.safetensors")), adapter);
}

INSTANTIATE_TEST_SUITE_P(
    Devices, TrainerResumeTest,
    ::testing::Combine(::testing::ValuesIn(zt::testing::TestDevices()),
                       ::testing::Values("zero2", "zero3")),
    [](const ::testing::TestParamInfo<std::tuple<c10::Device, std::string>>& info) {
      return zt::testing::TestDeviceName(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
    });

}  // namespace
}  // namespace zt::worker::train::testing
