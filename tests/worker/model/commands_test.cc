// score, init-model and merge through their Run functions (the CLI callbacks only print).
#include <sys/stat.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"
#include "tests/worker/model/golden_models.h"
#include "worker/io/hf_export.h"
#include "worker/model/init_model_command.h"
#include "worker/model/lora_model.h"
#include "worker/model/merge_command.h"
#include "worker/model/model_folder.h"
#include "worker/model/score_command.h"

namespace zt::worker::model {
namespace {

using ::testing::HasSubstr;
using testing::GoldenDir;
using testing::GoldenTensors;
using testing::RelativeError;

std::string IdsText(const at::Tensor& ids) {
  std::string text;
  for (int64_t i = 0; i < ids.numel(); ++i) text += (i ? "," : "") + std::to_string(ids[i].item<int64_t>());
  return text;
}

std::vector<int64_t> Top5(const at::Tensor& row) {
  const at::Tensor top = std::get<1>(row.topk(5));
  return std::vector<int64_t>(top.data_ptr<int64_t>(), top.data_ptr<int64_t>() + 5);
}

TEST(ScoreCommandTest, PrintsLossTop5AndGreedyOfTheReference) {
  auto golden = GoldenTensors("qwen2");
  const at::Tensor ids = golden->Get("input_ids")->select(0, 0);
  for (bool adapter : {false, true}) {
    ScoreRequest request;
    request.model = GoldenDir("qwen2");
    if (adapter) request.adapter = GoldenDir("qwen2") + "/adapter";
    request.ids = IdsText(ids);
    auto line = RunScore(request);
    ASSERT_TRUE(line.ok()) << line.status();
    const nlohmann::json out = nlohmann::json::parse(*line);
    const at::Tensor logits = golden->Get(adapter ? "lora_logits" : "logits")->narrow(0, 0, 1);
    const double loss = CausalLmLoss(logits, ids.unsqueeze(0)).item<double>();
    EXPECT_NEAR(out["loss"].get<double>(), loss, 1e-5 * loss);
    EXPECT_EQ(out["last_top5"].get<std::vector<int64_t>>(), Top5(logits[0][ids.numel() - 1]));
    EXPECT_FALSE(out.contains("greedy"));
  }
  ScoreRequest request;
  request.model = GoldenDir("qwen3");
  request.ids = IdsText(GoldenTensors("qwen3")->Get("input_ids")->select(0, 0).narrow(0, 0, 8));
  request.greedy = 6;
  request.dtype = "bf16";
  const nlohmann::json out = nlohmann::json::parse(*RunScore(request));
  EXPECT_EQ(out["greedy"].size(), 6u);
  request.ids = "3,14,128";
  EXPECT_THAT(RunScore(request).status().message(),
              HasSubstr("--ids: \"128\" is not a token id in [0, 128)"));
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

TEST(InitModelCommandTest, WritesALoadableReproducibleShardedFolder) {
  ::zt::testing::TempDir dir;
  InitModelRequest request;
  request.preset = "tiny";
  request.arch = "qwen3";
  request.dtype = "fp32";
  request.seed = 5;
  request.max_shard_size = "20MB";  // the 38.9 MB embedding alone exceeds it
  request.out = dir.Join("a");
  request.tokenizer = GoldenDir("../qwen3-tokenizer");
  auto line = RunInitModel(request);
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_THAT(*line, HasSubstr("preset tiny (qwen3)"));
  EXPECT_TRUE(Exists(dir.Join("a/model.safetensors.index.json")));
  EXPECT_TRUE(Exists(dir.Join("a/tokenizer.json")));
  request.out = dir.Join("b");
  request.max_shard_size = "5GB";
  request.tokenizer.clear();
  ASSERT_TRUE(RunInitModel(request).ok());
  EXPECT_TRUE(Exists(dir.Join("b/model.safetensors")));
  auto a = LoadModelFolder(dir.Join("a"), at::kFloat);
  auto b = LoadModelFolder(dir.Join("b"), at::kFloat);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(a->config().qk_norm);
  EXPECT_TRUE(at::equal(a->embed_tokens(), b->embed_tokens()));
  EXPECT_TRUE(at::equal(a->layers()[1].down_proj.weight, b->layers()[1].down_proj.weight));
  const at::Tensor w = a->layers()[0].q_proj.weight;
  // transformers' _init_weights draws with config.json's initializer_range (tiny: 0.25).
  std::ifstream config(dir.Join("a/config.json"));
  const double range = nlohmann::json::parse(config)["initializer_range"].get<double>();
  EXPECT_DOUBLE_EQ(range, 0.25);
  EXPECT_NEAR(w.std().item<double>(), range, 0.1 * range);
  EXPECT_TRUE(at::equal(a->layers()[0].q_norm, at::ones_like(a->layers()[0].q_norm)));
  const at::Tensor logits = a->Logits(at::tensor({1, 2, 3}, at::kLong).unsqueeze(0), {});
  EXPECT_TRUE(logits.isfinite().all().item<bool>());
}

TEST(MergeCommandTest, MergedShardedExportGivesTheAdapterLogits) {
  ::zt::testing::TempDir dir;
  MergeRequest request;
  request.base = GoldenDir("qwen2");
  request.adapter = GoldenDir("qwen2") + "/adapter";
  request.output = dir.Join("merged");
  request.max_shard_size = "40KB";
  auto line = RunMerge(request);
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_THAT(*line, HasSubstr("merged 14 adapted linears"));
  EXPECT_TRUE(Exists(dir.Join("merged/model.safetensors.index.json")));
  auto config = io::ReadConfigJson(dir.Join("merged"));
  ASSERT_TRUE(config.ok());
  EXPECT_EQ((*config)["dtype"], "float32");
  auto merged = LoadModelFolder(dir.Join("merged"), at::kFloat);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_TRUE(LoraModuleNames(*merged).empty());
  auto golden = GoldenTensors("qwen2");
  const at::Tensor logits = merged->Logits(*golden->Get("input_ids"), *golden->Get("attention_mask"));
  EXPECT_LE(RelativeError(logits, *golden->Get("lora_logits")), 1e-5);
  request.max_shard_size = "big";
  EXPECT_THAT(RunMerge(request).status().message(), HasSubstr("--max_shard_size \"big\""));
}

}  // namespace
}  // namespace zt::worker::model
