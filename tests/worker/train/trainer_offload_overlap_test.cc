// The asynchronous offload step through the real Trainer: ZeRO-2 with the optimizer on the CPU
// and overlap_comm (the CPU AdamW of step k overlaps step k+1's forward, which waits per layer)
// logs every step and writes the outputs bitwise as the same run with overlap_comm false (the
// synchronous step), at 1 rank (every test device) and at 2 Gloo ranks (where the trainer's own
// all-reduces and the worker's all-gathers share one communicator), with and without eval.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "sharding/collectives/file_store.h"
#include "sharding/collectives/in_memory_store.h"
#include "sharding/collectives/prefix_store.h"
#include "sharding/collectives/self_communicator.h"
#include "sharding/zero/zero_engine.h"
#include "tests/sharding/gloo_test_ranks.h"
#include "tests/support/rank_processes.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_devices.h"
#include "tests/worker/train/trainer_golden_support.h"
#include "worker/train/trainer.h"

namespace zt::worker::train::testing {
namespace {

using OverlapSeries = std::map<int64_t, std::map<std::string, double>>;  // step -> key -> value

class OverlapRecorder : public TrainingObserver {
 public:
  absl::Status OnMetrics(int64_t step, int64_t, double,
                         const std::map<std::string, double>& values) override {
    for (const char* key : {"loss", "grad_norm", "learning_rate", "eval_loss"}) {
      if (auto it = values.find(key); it != values.end()) series[step][key] = it->second;
    }
    return absl::OkStatus();
  }
  OverlapSeries series;
};

// The bytes of every .safetensors file directly in `dir` (the adapter or the model).
std::map<std::string, std::string> SafetensorsBytes(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".safetensors") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    files[entry.path().filename().string()] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return files;
}

// configs/ds/zero2_offload_auto.json with overlap_comm set to `overlap`, written into `dir`
// under a name of this rank's own (ranks share `dir`: one rank must not truncate the file the
// other is reading).
std::string OffloadConfig(const std::string& dir, bool overlap, int rank) {
  std::ifstream in(std::string(ZT_SOURCE_ROOT_DIR) + "/configs/ds/zero2_offload_auto.json");
  nlohmann::json config = nlohmann::json::parse(in);
  config["zero_optimization"]["overlap_comm"] = overlap;
  const std::string path =
      dir + "/rank" + std::to_string(rank) + (overlap ? "_overlap.json" : "_no_overlap.json");
  std::ofstream(path) << config.dump(2);
  return path;
}

struct OverlapRun {
  OverlapSeries series;
  std::map<std::string, std::string> outputs;  // rank 0
  int64_t async_steps = 0;
};

// One training of `golden`'s flags under the ds_config at `ds_path`, into `output_dir`.
OverlapRun TrainOnce(const std::string& golden_name, const std::string& ds_path,
                     const std::string& output_dir, std::shared_ptr<sharding::Communicator> comm,
                     TrainerPlacement placement) {
  OverlapRun run;
  absl::StatusOr<GoldenCase> golden = ReadGoldenCase(golden_name);
  EXPECT_TRUE(golden.ok()) << golden.status();
  if (!golden.ok()) return run;
  absl::StatusOr<configs::TrainingArguments> args =
      GoldenArguments(*golden, {golden_name, "zero2_offload_auto"}, output_dir);
  EXPECT_TRUE(args.ok()) << args.status();
  if (!args.ok()) return run;
  args->deepspeed = ds_path;
  const bool rank0 = comm->Rank() == 0;
  OverlapRecorder recorder;
  absl::StatusOr<std::unique_ptr<Trainer>> trainer =
      Trainer::Create(*args, std::move(comm), std::move(placement), &recorder);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  if (!trainer.ok()) return run;
  absl::StatusOr<TrainResult> result = (*trainer)->Train();
  EXPECT_TRUE(result.ok()) << result.status();
  auto* engine = dynamic_cast<sharding::ZeroEngine*>(&(*trainer)->engine());
  EXPECT_NE(engine, nullptr);
  if (engine != nullptr) run.async_steps = engine->AsyncSteps();
  run.series = recorder.series;
  if (rank0) run.outputs = SafetensorsBytes(output_dir);
  return run;
}

// Both runs on this rank; rank 0 compares.
void CompareOverlapOnRank(const std::string& golden, const std::string& dir,
                          const std::function<std::shared_ptr<sharding::Communicator>()>& comm,
                          const std::function<TrainerPlacement(const std::string&)>& placement) {
  const int rank = comm()->Rank();
  const OverlapRun overlapped = TrainOnce(golden, OffloadConfig(dir, true, rank),
                                          dir + "/overlap", comm(), placement("overlap"));
  const OverlapRun synchronous = TrainOnce(golden, OffloadConfig(dir, false, rank),
                                           dir + "/sync", comm(), placement("sync"));
  // Without this the comparison would be of one path with itself.
  EXPECT_GT(overlapped.async_steps, 0) << "overlap_comm did not turn the asynchronous step on";
  EXPECT_EQ(synchronous.async_steps, 0);
  if (rank != 0) return;  // rank 0 reports the metrics and writes the outputs
  ASSERT_FALSE(synchronous.series.empty());
  EXPECT_EQ(overlapped.series, synchronous.series);
  ASSERT_FALSE(synchronous.outputs.empty());
  EXPECT_EQ(overlapped.outputs, synchronous.outputs);
}

struct OverlapCase {
  std::string golden;
  c10::Device device = c10::Device(c10::kCPU);  // 1-rank cases
};

inline void PrintTo(const OverlapCase& c, std::ostream* os) {
  *os << c.golden << " on " << c.device.str();
}

class TrainerOffloadOverlapTest : public ::testing::TestWithParam<OverlapCase> {};

TEST_P(TrainerOffloadOverlapTest, OverlappedStepEqualsTheSynchronousOneBitwise) {
  const OverlapCase& c = GetParam();
  absl::StatusOr<GoldenCase> golden = ReadGoldenCase(c.golden);
  ASSERT_TRUE(golden.ok()) << golden.status();
  if (golden->world_size == 1) {
    zt::testing::TempDir dir;
    auto self = std::make_shared<sharding::SelfCommunicator>();
    CompareOverlapOnRank(
        c.golden, dir.path(), [&] { return self; },
        [&](const std::string&) {
          TrainerPlacement placement;
          placement.store = std::make_shared<sharding::InMemoryStore>();
          placement.device = c.device;
          return placement;
        });
    return;
  }
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    const std::string store_dir = std::getenv("ZT_TEST_STORE_DIR");
    const std::string shared = std::filesystem::path(store_dir).parent_path().string();
    std::shared_ptr<sharding::Communicator> gloo =
        sharding::testing::ConnectGlooRank(*rank, "overlap");
    ASSERT_NE(gloo, nullptr);
    CompareOverlapOnRank(
        c.golden, shared, [&] { return gloo; },
        [&](const std::string& job) {
          TrainerPlacement placement;
          absl::StatusOr<std::unique_ptr<sharding::FileStore>> base =
              sharding::FileStore::Open(store_dir);
          EXPECT_TRUE(base.ok()) << base.status();
          if (!base.ok()) return placement;
          absl::StatusOr<std::unique_ptr<sharding::PrefixStore>> store = sharding::JobStore(
              std::shared_ptr<sharding::Store>(std::move(*base)), "overlap-" + job, 0);
          EXPECT_TRUE(store.ok()) << store.status();
          if (store.ok()) placement.store = std::shared_ptr<sharding::Store>(std::move(*store));
          return placement;
        });
    return;
  }
  zt::testing::TempDir dir;
  zt::testing::ExpectRanksSucceed(zt::testing::RunRanks(
      golden->world_size, absl::Seconds(180), {"ZT_TEST_STORE_DIR=" + dir.Join("store")}));
}

std::vector<OverlapCase> OverlapCases() {
  std::vector<OverlapCase> cases;
  for (const c10::Device& device : zt::testing::TestDevices()) {
    for (const char* golden : {"full_gas4_constant", "lora_gas4_cosine"}) {
      cases.push_back({golden, device});
    }
  }
  for (const char* golden : {"full_w2_gas4", "full_w2_eval", "lora_w2_gas2"}) {
    cases.push_back({golden});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Runs, TrainerOffloadOverlapTest, ::testing::ValuesIn(OverlapCases()),
                         [](const ::testing::TestParamInfo<OverlapCase>& info) {
                           return info.param.golden + "_" +
                                  zt::testing::TestDeviceName(info.param.device);
                         });

}  // namespace
}  // namespace zt::worker::train::testing
