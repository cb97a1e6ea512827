// End to end through the built zerotune-worker binary: init-model, score (with and without a
// PEFT adapter, greedy) and merge, checked against the committed HF / PEFT goldens.
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/command_run.h"
#include "tests/support/temp_dir.h"
#include "tests/worker/model/golden_models.h"
#include "worker/model/decoder.h"

namespace zt::worker::model {
namespace {

using ::testing::HasSubstr;
using testing::GoldenDir;
using testing::GoldenTensors;

using CliRun = ::zt::testing::CommandRun;

CliRun Worker(const std::string& args, const ::zt::testing::TempDir& dir) {
  return ::zt::testing::RunCommand(std::string(ZT_WORKER_BINARY) + " " + args, dir.path());
}

std::string RowIds(const std::string& name) {
  const at::Tensor ids = GoldenTensors(name)->Get("input_ids")->select(0, 0);
  std::string text;
  for (int64_t i = 0; i < ids.numel(); ++i) text += (i ? "," : "") + std::to_string(ids[i].item<int64_t>());
  return text;
}

double GoldenRowLoss(const std::string& name, const std::string& logits_name) {
  auto golden = GoldenTensors(name);
  const at::Tensor ids = golden->Get("input_ids")->narrow(0, 0, 1);
  return CausalLmLoss(golden->Get(logits_name)->narrow(0, 0, 1), ids).item<double>();
}

TEST(WorkerModelCliTest, ScoreWithAndWithoutAdapterMatchesTheGoldens) {
  ::zt::testing::TempDir dir;
  const std::string model = GoldenDir("qwen2");
  CliRun base = Worker("score --model " + model + " --ids " + RowIds("qwen2"), dir);
  ASSERT_EQ(base.exit_code, 0) << base.err;
  const double loss = GoldenRowLoss("qwen2", "logits");
  EXPECT_NEAR(nlohmann::json::parse(base.out)["loss"].get<double>(), loss, 1e-5 * loss);
  CliRun lora = Worker("score --model " + model + " --adapter " + model + "/adapter --ids " +
                    RowIds("qwen2") + " --greedy 3", dir);
  ASSERT_EQ(lora.exit_code, 0) << lora.err;
  const nlohmann::json out = nlohmann::json::parse(lora.out);
  const double lora_loss = GoldenRowLoss("qwen2", "lora_logits");
  EXPECT_NEAR(out["loss"].get<double>(), lora_loss, 1e-5 * lora_loss);
  EXPECT_EQ(out["last_top5"].size(), 5u);
  EXPECT_EQ(out["greedy"].size(), 3u);
  CliRun bad = Worker("score --model " + model + " --ids 3,999", dir);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("zerotune-worker score: --ids: \"999\" is not a token id"));
}

TEST(WorkerModelCliTest, InitModelThenScoreAndMergeThenScore) {
  ::zt::testing::TempDir dir;
  CliRun init = Worker("init-model --arch llama --preset tiny --dtype bf16 --seed 4 --out " +
                    dir.Join("tiny"), dir);
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_THAT(init.out, HasSubstr("preset tiny (llama)"));
  CliRun score = Worker("score --model " + dir.Join("tiny") + " --dtype bf16 --ids 1,2,3 --greedy 2", dir);
  ASSERT_EQ(score.exit_code, 0) << score.err;
  EXPECT_EQ(nlohmann::json::parse(score.out)["greedy"].size(), 2u);

  const std::string model = GoldenDir("qwen3");
  CliRun merge = Worker("merge --base " + model + " --adapter " + model + "/adapter --output " +
                     dir.Join("merged") + " --max_shard_size 40KB", dir);
  ASSERT_EQ(merge.exit_code, 0) << merge.err;
  struct stat st {};
  EXPECT_EQ(::stat(dir.Join("merged/model.safetensors.index.json").c_str(), &st), 0);
  CliRun merged = Worker("score --model " + dir.Join("merged") + " --ids " + RowIds("qwen3"), dir);
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  const double lora_loss = GoldenRowLoss("qwen3", "lora_logits");
  EXPECT_NEAR(nlohmann::json::parse(merged.out)["loss"].get<double>(), lora_loss, 1e-5 * lora_loss);
}

// A pre-quantized 4-bit base through the CLI with --out: a 16-bit folder that score loads
// (merge_command_test.cc holds its tensors to PEFT's).
TEST(WorkerModelCliTest, MergeDequantizesAPrequantizedBase) {
  ::zt::testing::TempDir dir;
  const char* root = std::getenv("ZT_TEST_DATA");
  const std::string data = std::string(root ? root : "tests/data") + "/qlora_trainer_goldens";
  CliRun merge = Worker("merge --base " + data + "/model_bnb4bit --adapter " + data +
                            "/adapter_init --out " + dir.Join("merged") + " --max_shard_size 2GB",
                        dir);
  ASSERT_EQ(merge.exit_code, 0) << merge.err;
  EXPECT_THAT(merge.out, HasSubstr("14 4-bit linears dequantized"));
  std::ifstream config_file(dir.Join("merged/config.json"));
  const nlohmann::json config = nlohmann::json::parse(config_file);
  EXPECT_FALSE(config.contains("quantization_config"));
  EXPECT_EQ(config["dtype"], "bfloat16");
  CliRun score = Worker("score --model " + dir.Join("merged") + " --ids 1,2,3,4", dir);
  ASSERT_EQ(score.exit_code, 0) << score.err;
}

}  // namespace
}  // namespace zt::worker::model
