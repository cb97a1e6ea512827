// The engine options and schedule a job runs, from training arguments and a ds_config file.
#include "worker/train/job_config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/temp_dir.h"

namespace zt::worker::train {
namespace {

std::string WriteConfig(const testing::TempDir& dir, const std::string& text) {
  const std::string path = dir.path() + "/ds.json";
  std::ofstream(path) << text;
  return path;
}

TEST(JobConfigTest, WithoutDeepspeedRunsStageZeroWithTheTrainersAdamWAndSchedule) {
  configs::TrainingArguments args;
  ASSERT_TRUE(configs::SetArgument(args, "learning_rate", "1e-3").ok());
  ASSERT_TRUE(configs::SetArgument(args, "warmup_steps", "2").ok());
  ASSERT_TRUE(configs::SetArgument(args, "max_grad_norm", "0.5").ok());
  absl::StatusOr<JobConfig> job = ResolveJobConfig(args, 2, 64, 10);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->engine.stage, 0);
  EXPECT_DOUBLE_EQ(job->engine.gradient_clipping, 0.5);
  EXPECT_DOUBLE_EQ(job->engine.optimizer.lr, 1e-3);
  // HF linear with 2 warm-up steps over 10: step k uses lr * lambda(k - 1).
  const sharding::LrScheduler& s = *job->engine.scheduler;
  EXPECT_DOUBLE_EQ(s.LrForOptimizerStep(1), 0.0);
  EXPECT_DOUBLE_EQ(s.LrForOptimizerStep(2), 0.5e-3);
  EXPECT_DOUBLE_EQ(s.LrForOptimizerStep(3), 1e-3);
  EXPECT_DOUBLE_EQ(s.LrForOptimizerStep(4), 1e-3 * 7.0 / 8.0);
}

TEST(JobConfigTest, DeepSpeedSchedulerBlockWinsWithItsStepIndexing) {
  testing::TempDir dir;
  const std::string path = WriteConfig(dir, R"({
    "train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
    "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu"}},
    "optimizer": {"type": "AdamW", "params": {"lr": 0.01}},
    "scheduler": {"type": "WarmupLR", "params": {"warmup_min_lr": 0.001, "warmup_max_lr": 0.01,
                                                 "warmup_num_steps": 4, "warmup_type": "linear"}}})");
  configs::TrainingArguments args;
  ASSERT_TRUE(configs::SetArgument(args, "deepspeed", path).ok());
  absl::StatusOr<JobConfig> job = ResolveJobConfig(args, 2, 64, 10);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->engine.stage, 2);
  EXPECT_TRUE(job->engine.offload.offload);
  // DeepSpeed: optimizer step 1 runs with lr(-1) = warmup_min_lr, step 2 with lr(0).
  const sharding::LrScheduler& s = *job->engine.scheduler;
  EXPECT_DOUBLE_EQ(s.LrForOptimizerStep(1), 0.001);
  EXPECT_DOUBLE_EQ(s.LrForOptimizerStep(2), 0.001);
  EXPECT_DOUBLE_EQ(s.LrForOptimizerStep(3), 0.001 + 0.009 / 4);
}

TEST(JobConfigTest, FlagContradictingTheConfigNamesBoth) {
  testing::TempDir dir;
  const std::string path = WriteConfig(dir, R"({"train_micro_batch_size_per_gpu": 2,
                                                "gradient_accumulation_steps": 1})");
  configs::TrainingArguments args;
  ASSERT_TRUE(configs::SetArgument(args, "deepspeed", path).ok());
  ASSERT_TRUE(configs::SetArgument(args, "per_device_train_batch_size", "4").ok());
  absl::StatusOr<JobConfig> job = ResolveJobConfig(args, 1, 64, 10);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(job.status().message());
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("train_micro_batch_size_per_gpu"), std::string::npos) << message;
  EXPECT_NE(message.find("per_device_train_batch_size"), std::string::npos) << message;
}

TEST(JobConfigTest, UnknownSchedulerAndUnknownHfScheduleAreNamed) {
  testing::TempDir dir;
  const std::string path =
      WriteConfig(dir, R"({"scheduler": {"type": "WarmupLR", "params": {"warmup_type": "cubic"}}})");
  configs::TrainingArguments args;
  ASSERT_TRUE(configs::SetArgument(args, "deepspeed", path).ok());
  absl::StatusOr<JobConfig> job = ResolveJobConfig(args, 1, 64, 10);
  ASSERT_FALSE(job.ok());
  EXPECT_NE(job.status().message().find("warmup_type"), std::string::npos) << job.status();

  configs::TrainingArguments hf;
  hf.lr_scheduler_type = "polynomial";
  job = ResolveJobConfig(hf, 1, 64, 10);
  ASSERT_FALSE(job.ok());
  EXPECT_NE(job.status().message().find("--lr_scheduler_type"), std::string::npos) << job.status();
}

}  // namespace
}  // namespace zt::worker::train
