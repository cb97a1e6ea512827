// End to end through the built `zerotune validate-config` binary (ZT_ZEROTUNE_BINARY) on the
// configs shipped in configs/ds (ZT_SHIPPED_DS_CONFIGS).
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"

namespace zt::configs {
namespace {

using ::testing::HasSubstr;

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

CliRun Zerotune(const std::string& args) {
  zt::testing::TempDir dir;
  const std::string out_path = dir.Join("out"), err_path = dir.Join("err");
  const std::string command = std::string(ZT_ZEROTUNE_BINARY) + " " + args + " >" + out_path +
                              " 2>" + err_path;
  CliRun run;
  const int status = std::system(command.c_str());
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  run.out = slurp(out_path);
  run.err = slurp(err_path);
  return run;
}

std::string Shipped(const std::string& name) { return std::string(ZT_SHIPPED_DS_CONFIGS) + "/" + name; }

TEST(ValidateConfigE2eTest, Zero2OffloadResolvesForOneRank) {
  CliRun run = Zerotune("validate-config " + Shipped("zero2_offload.json") + " --world-size 1");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  nlohmann::json j = nlohmann::json::parse(run.out);
  EXPECT_EQ(j["train_batch_size"], 16);
  EXPECT_EQ(j["train_micro_batch_size_per_gpu"], 2);
  EXPECT_EQ(j["gradient_accumulation_steps"], 8);
  EXPECT_EQ(j["zero_optimization"]["stage"], 2);
  EXPECT_EQ(j["zero_optimization"]["offload_optimizer"]["device"], "cpu");
  EXPECT_EQ(j["zero_optimization"]["offload_optimizer"]["pin_memory"], true);
  EXPECT_EQ(j["zero_optimization"]["reduce_bucket_size"], 200000000);
  EXPECT_EQ(j["zero_optimization"]["allgather_bucket_size"], 200000000);
  EXPECT_EQ(j["optimizer"]["params"]["betas"], nlohmann::json({0.9, 0.95}));
  EXPECT_EQ(j["scheduler"]["params"]["warmup_num_steps"], 100);
  EXPECT_EQ(j["scheduler"]["params"]["warmup_max_lr"], 3e-4);
}

TEST(ValidateConfigE2eTest, Zero2OffloadFailsForTwoRanksNamingTheTriad) {
  CliRun run = Zerotune("validate-config " + Shipped("zero2_offload.json") + " --world-size 2");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_THAT(run.err,
              HasSubstr("error: train_batch_size: train_batch_size is not equal to "
                        "train_micro_batch_size_per_gpu * gradient_accumulation_steps * "
                        "world_size: 16 != 2 * 8 * 2"));
}

TEST(ValidateConfigE2eTest, EveryShippedConfigResolvesWithTrainingFlags) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(ZT_SHIPPED_DS_CONFIGS)) {
    const std::string path = entry.path().string();
    if (entry.path().extension() != ".json" || path.find("zero2_offload") != std::string::npos) {
      continue;
    }
    ++count;
    for (int world : {1, 2, 8}) {
      CliRun run = Zerotune("validate-config " + path + " --world-size " + std::to_string(world) +
                         " --bf16 --per_device_train_batch_size 2 --gradient_accumulation_steps 4"
                         " --learning_rate 2e-4");
      ASSERT_EQ(run.exit_code, 0) << path << "\n" << run.err;
      nlohmann::json j = nlohmann::json::parse(run.out);
      EXPECT_EQ(j["train_batch_size"], 2 * 4 * world) << path;
      EXPECT_EQ(j["bf16"]["enabled"], true) << path;
      EXPECT_EQ(j["optimizer"]["params"]["lr"], 2e-4) << path;
    }
  }
  EXPECT_EQ(count, 5);
}

TEST(ValidateConfigE2eTest, FlagConflictNamesBoth) {
  CliRun run = Zerotune("validate-config " + Shipped("zero2_offload.json") +
                     " --per_device_train_batch_size 4");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("error: train_micro_batch_size_per_gpu: 2 conflicts with "
                                 "--per_device_train_batch_size 4"));
}

TEST(ValidateConfigE2eTest, ModelFolderResolvesBucketAutos) {
  CliRun run = Zerotune("validate-config " + Shipped("zero3.json") + " --model_name_or_path " +
                     std::string(ZT_TEST_MODELS) + "/qwen2.5-0.5b.json --max_steps 100");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  nlohmann::json j = nlohmann::json::parse(run.out);
  EXPECT_EQ(j["zero_optimization"]["reduce_bucket_size"], 896 * 896);
  EXPECT_EQ(j["zero_optimization"]["stage3_prefetch_bucket_size"], 722534);  // int(0.9 * 896²)
  EXPECT_EQ(j["zero_optimization"]["stage3_param_persistence_threshold"], 8960);
}

TEST(ValidateConfigE2eTest, MissingFileAndBadFlag) {
  CliRun missing = Zerotune("validate-config /nonexistent/ds.json");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("error: /nonexistent/ds.json: no such file"));
  CliRun bad = Zerotune("validate-config " + Shipped("zero2.json") + " --lora_r many");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("--lora_r: expected an integer, got \"many\""));
}

TEST(ValidateConfigE2eTest, HelpListsTrainingArguments) {
  CliRun run = Zerotune("validate-config --help");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_THAT(run.out, HasSubstr("--per_device_train_batch_size"));
  EXPECT_THAT(run.out, HasSubstr("--world-size"));
}

}  // namespace
}  // namespace zt::configs
