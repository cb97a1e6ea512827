// `zerotune-worker train` through the real launcher (`zerotune launch`, Gloo ranks) on the tiny
// model written by `zerotune-worker init-model`: ZeRO-2 + offload on 2 ranks equals stage 0 on
// one rank, a killed rank restarted by the coordinator ends with the uninterrupted adapter, bad
// input fails with its message and leaves nothing behind, full fine-tuning exports a model that
// reloads, the demo job memorises its conversations, a lone run and an mpirun run write the
// launched run's metrics files, --adapter_name_or_path continues a saved adapter, and Qwen's
// guide ds_config logs every step's lr and grad_norm.
#include <sys/wait.h>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"
#include "worker/data/loss_mask.h"
#include "worker/io/peft_adapter.h"
#include "worker/model/model_folder.h"
#include "worker/train/training_data.h"

namespace zt::worker::train {
namespace {

namespace fs = std::filesystem;

struct CommandRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandRun Shell(const std::string& command) {
  testing::TempDir dir;
  const std::string log = dir.Join("log");
  const int status = std::system((command + " >" + log + " 2>&1").c_str());
  CommandRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  run.output = text.str();
  return run;
}

std::string Source(const std::string& relative) {
  return std::string(ZT_SOURCE_ROOT_DIR) + "/" + relative;
}

class TrainE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const CommandRun init = Shell(absl::StrCat(ZT_WORKER_BIN, " init-model --arch qwen3 --preset tiny",
                                        " --tokenizer ", Source("tests/data/qwen3-tokenizer"),
                                        " --out ", Model(), " --seed 1 --dtype fp32"));
    ASSERT_EQ(init.exit_code, 0) << init.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string Model() { return dir_->Join("model"); }
  static std::string Out(const std::string& name) { return dir_->Join(name); }

  // Flags of a short LoRA job on the shipped conversations.
  static std::string LoraArgs(const std::string& output_dir) {
    return absl::StrCat("--model_name_or_path ", Model(), " --data_path ",
                        Source("examples/identity.jsonl"), " --output_dir ", output_dir,
                        " --use_lora --lora_r 8 --lora_alpha 16 --lora_target_modules all-linear",
                        " --learning_rate 1e-2 --weight_decay 0.01 --lr_scheduler_type cosine",
                        " --warmup_steps 2 --logging_steps 2 --seed 5");
  }
  static CommandRun Launch(int ranks, const std::string& args, const std::string& env = "",
                    const std::string& launcher_flags = "") {
    return Shell(absl::StrCat(env, " ", ZT_ZEROTUNE_BIN, " launch --nproc_per_node ", ranks,
                              " --heartbeat_timeout_ms 3000 --abort_grace_ms 1000 ",
                              launcher_flags, " -- ", args));
  }
  static CommandRun Worker(const std::string& args) {
    return Shell(absl::StrCat(ZT_WORKER_BIN, " train ", args));
  }

  static testing::TempDir* dir_;
};

testing::TempDir* TrainE2eTest::dir_ = nullptr;

using Tensors = std::map<std::string, at::Tensor>;

Tensors ReadAdapter(const std::string& dir) {
  absl::StatusOr<io::PeftAdapter> adapter = io::ReadPeftAdapter(dir);
  EXPECT_TRUE(adapter.ok()) << adapter.status();
  Tensors out;
  if (!adapter.ok()) return out;
  for (const std::string& name : adapter->tensors->Names()) {
    out[name] = adapter->tensors->Get(name)->clone();
  }
  return out;
}

double RelativeDifference(const Tensors& a, const Tensors& b) {
  double diff = 0, norm = 0;
  EXPECT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) {
    const at::Tensor x = tensor.to(at::kDouble), y = b.at(name).to(at::kDouble);
    diff += (x - y).pow(2).sum().item<double>();
    norm += y.pow(2).sum().item<double>();
  }
  return std::sqrt(diff / norm);
}

std::vector<nlohmann::json> Metrics(const std::string& output_dir) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(output_dir + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

double LoraBNorm(const Tensors& adapter) {
  double norm = 0;  // PEFT initialises every lora_B to zero
  for (const auto& [name, tensor] : adapter) {
    if (name.find("lora_B") != std::string::npos) norm += tensor.norm().item<double>();
  }
  return norm;
}

std::vector<std::string> Keys(const nlohmann::json& object) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.push_back(key);
  return keys;
}

// A run's metrics.jsonl, metrics.csv and trainer_state.json with the values left out: each
// record's step and keys, the CSV header and row steps, the state's keys and log history.
nlohmann::json MetricsShape(const std::string& output_dir) {
  nlohmann::json shape = nlohmann::json::object();
  for (const nlohmann::json& row : Metrics(output_dir)) {
    shape["jsonl"].push_back({{"step", row["step"]}, {"keys", Keys(row)}});
  }
  std::ifstream csv(output_dir + "/metrics.csv");
  std::string line;
  if (std::getline(csv, line)) shape["csv_header"] = line;
  while (std::getline(csv, line)) shape["csv_steps"].push_back(line.substr(0, line.find(',')));
  std::ifstream in(output_dir + "/trainer_state.json");
  const nlohmann::json state = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (state.is_discarded()) return shape;
  shape["state_keys"] = Keys(state);
  shape["global_step"] = state["global_step"];
  shape["max_steps"] = state["max_steps"];
  for (const nlohmann::json& entry : state["log_history"]) {
    shape["log_history"].push_back({{"step", entry["step"]}, {"keys", Keys(entry)}});
  }
  return shape;
}

// Qwen's finetune guide's ds_config_zero2.json with the optimizer offloaded to the CPU and
// WarmupLR over a fixed 100 steps.
constexpr char kQwenGuideZero2Offload[] = R"({
  "fp16": {"enabled": "auto", "loss_scale": 0, "loss_scale_window": 1000,
           "initial_scale_power": 16, "hysteresis": 2, "min_loss_scale": 1},
  "bf16": {"enabled": "auto"},
  "optimizer": {"type": "AdamW", "params": {"lr": "auto", "betas": "auto", "eps": "auto",
                                            "weight_decay": "auto"}},
  "scheduler": {"type": "WarmupLR", "params": {"warmup_min_lr": "auto", "warmup_max_lr": "auto",
                                               "warmup_num_steps": 100}},
  "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu", "pin_memory": true},
                        "allgather_partitions": true, "allgather_bucket_size": 2e8,
                        "overlap_comm": true, "reduce_scatter": true, "reduce_bucket_size": 2e8,
                        "contiguous_gradients": true},
  "gradient_accumulation_steps": "auto", "gradient_clipping": "auto", "steps_per_print": 100,
  "train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto",
  "wall_clock_breakdown": false})";

TEST_F(TrainE2eTest, TwoRankZero2OffloadEqualsOneRankStageZero) {
  const std::string zero2 = Out("zero2"), stage0 = Out("stage0");
  const CommandRun two = Launch(2, absl::StrCat(LoraArgs(zero2), " --lora_dropout 0 --max_steps 6",
                                         " --per_device_train_batch_size 4 --deepspeed ",
                                         Source("configs/ds/zero2_offload_auto.json")));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_NE(two.output.find("ZeRO stage 2 with CPU offload"), std::string::npos) << two.output;
  const CommandRun one = Worker(absl::StrCat(LoraArgs(stage0), " --lora_dropout 0 --max_steps 6",
                                      " --per_device_train_batch_size 8"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_NE(one.output.find("ZeRO stage 0"), std::string::npos) << one.output;
  const Tensors trained = ReadAdapter(zero2);
  EXPECT_LE(RelativeDifference(trained, ReadAdapter(stage0)), 1e-5);
  EXPECT_GT(LoraBNorm(trained), 0) << "the adapters did not train";
}

// Without a launcher's coordinator the metrics files are the same: a lone process writes them
// itself, and under mpirun rank 0's in-process coordinator does; one record per logged step.
TEST_F(TrainE2eTest, LoneAndMpirunRunsWriteTheLaunchedRunsMetricsFiles) {
  const std::string flags = " --max_steps 4 --per_device_train_batch_size 2";
  const std::string launched = Out("metrics-launched"), lone = Out("metrics-lone");
  const CommandRun launch = Launch(1, LoraArgs(launched) + flags);
  ASSERT_EQ(launch.exit_code, 0) << launch.output;
  const nlohmann::json expected = MetricsShape(launched);
  EXPECT_EQ(expected["csv_steps"], nlohmann::json({"2", "4"})) << expected.dump(1);
  EXPECT_EQ(expected["log_history"].size(), 2u) << expected.dump(1);
  EXPECT_EQ(expected["global_step"], 4);
  const CommandRun alone = Worker(LoraArgs(lone) + flags);
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  EXPECT_EQ(MetricsShape(lone), expected) << alone.output;
  const std::string mpiexec = ZT_MPIEXEC;
  if (mpiexec.empty() || !fs::exists(mpiexec)) {
    std::cout << "[ note ] no mpiexec in this build: the mpirun half was not run\n";
    return;
  }
  const std::string batch = Out("metrics-mpirun");
  const CommandRun mpirun = Shell(absl::StrCat(
      "unset ZEROTUNE_COORDINATOR; ", mpiexec, " --allow-run-as-root --oversubscribe -np 1",
      " -x MASTER_ADDR=127.0.0.1 ", ZT_WORKER_BIN, " train ", LoraArgs(batch), flags));
  ASSERT_EQ(mpirun.exit_code, 0) << mpirun.output;
  EXPECT_NE(mpirun.output.find("served by rank 0"), std::string::npos) << mpirun.output;
  EXPECT_EQ(MetricsShape(batch), expected) << mpirun.output;
}

// --adapter_name_or_path through the launcher: the ranks continue a saved adapter with its own
// config (use_lora implied), and a contradicting flag fails naming both values.
TEST_F(TrainE2eTest, AdapterNameOrPathContinuesASavedAdapter) {
  const std::string first = Out("adapter-first"), next = Out("adapter-next");
  const std::string flags = " --lora_dropout 0 --max_steps 2 --per_device_train_batch_size 2";
  const CommandRun made = Worker(LoraArgs(first) + flags);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const std::string data = " --data_path " + Source("examples/identity.jsonl");
  const CommandRun run = Launch(
      2, absl::StrCat("--model_name_or_path ", Model(), data, " --output_dir ", next,
                      " --adapter_name_or_path ", first, " --lora_alpha 16 --max_steps 2",
                      " --per_device_train_batch_size 2 --learning_rate 1e-2"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("--use_lora true  (implied by --adapter_name_or_path)"),
            std::string::npos) << run.output;
  absl::StatusOr<io::PeftAdapter> before = io::ReadPeftAdapter(first);
  absl::StatusOr<io::PeftAdapter> after = io::ReadPeftAdapter(next);
  ASSERT_TRUE(before.ok() && after.ok()) << after.status();
  EXPECT_EQ(after->config.r, 8);
  EXPECT_EQ(after->config.target_modules, before->config.target_modules);
  EXPECT_GT(RelativeDifference(ReadAdapter(next), ReadAdapter(first)), 0) << "it did not train";
  const CommandRun contradiction = Worker(absl::StrCat(
      "--model_name_or_path ", Model(), data, " --output_dir ", Out("adapter-bad"),
      " --adapter_name_or_path ", first, " --lora_r 4 --max_steps 1"));
  EXPECT_EQ(contradiction.exit_code, 2) << contradiction.output;
  EXPECT_NE(contradiction.output.find("--lora_r 4 contradicts " + first +
                                      "/adapter_config.json: r = 8"),
            std::string::npos) << contradiction.output;
}

// Qwen's guide (train_batch_size 16 = micro batch 2 x 8 steps x 1 rank = 2 x 4 x 2 ranks),
// saving every step: each step logs the lr DeepSpeed's WarmupLR gives it and a real gradient
// norm, the adapter trains, and both layouts see the same samples, hence the same losses.
TEST_F(TrainE2eTest, QwenGuideZero2OffloadLogsEveryStepsLrAndGradNorm) {
  testing::TempDir scratch;
  const std::string ds = scratch.Join("ds_config_zero2.json");
  std::ofstream(ds) << kQwenGuideZero2Offload;
  const double lr = 3e-4;
  std::vector<double> losses[2];
  for (int ranks : {1, 2}) {
    const std::string out = Out(absl::StrCat("qwen-guide-", ranks));
    const CommandRun run = Launch(ranks, absl::StrCat(
        "--model_name_or_path ", Model(), " --data_path ", Source("examples/identity.jsonl"),
        " --output_dir ", out, " --deepspeed ", ds, " --use_lora --lora_dropout 0",
        " --per_device_train_batch_size 2 --gradient_accumulation_steps ", 8 / ranks,
        " --learning_rate ", lr, " --weight_decay 0.1 --adam_beta2 0.95 --model_max_length 512",
        " --gradient_checkpointing --max_steps 3 --save_steps 1 --logging_steps 1 --seed 5"));
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const std::vector<nlohmann::json> rows = Metrics(out);
    ASSERT_EQ(rows.size(), 3u) << run.output;
    for (int k = 1; k <= 3; ++k) {
      const nlohmann::json& row = rows[k - 1];
      EXPECT_EQ(row["step"], k);
      // WarmupLR's log warm-up from warmup_min_lr 0 ("auto") to lr over 100 steps; optimizer
      // step k runs lr(t = k - 2) (sharding/optim/lr_scheduler.h), so steps 1 and 2 run at 0.
      const double expected = k <= 2 ? 0.0 : lr * std::log(k - 1.0) / std::log(100.0);
      EXPECT_NEAR(row["learning_rate"].get<double>(), expected, 1e-9 * lr)
          << ranks << " rank(s), step " << k << ": " << row.dump();
      const double grad_norm = row["grad_norm"].get<double>();
      EXPECT_TRUE(std::isfinite(grad_norm) && grad_norm > 0)
          << ranks << " rank(s), step " << k << ": " << row.dump();
      losses[ranks - 1].push_back(row["loss"].get<double>());
      EXPECT_TRUE(fs::exists(absl::StrCat(out, "/checkpoint-", k, "/adapter_model.safetensors")));
    }
    const Tensors trained = ReadAdapter(out);
    EXPECT_GT(LoraBNorm(trained), 0) << ranks << " rank(s): the adapter did not train";
    EXPECT_GT(RelativeDifference(trained, ReadAdapter(out + "/checkpoint-1")), 0);
  }
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(losses[1][k], losses[0][k], 1e-5 * losses[0][k]) << k;
}

TEST_F(TrainE2eTest, KilledRankIsRestartedAndEndsWithTheUninterruptedAdapter) {
  const std::string plain = Out("plain"), killed = Out("killed");
  const std::string common = " --lora_dropout 0.1 --max_steps 8 --save_steps 2 --save_total_limit 2"
                             " --per_device_train_batch_size 4";
  const CommandRun reference = Launch(2, LoraArgs(plain) + common);
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  const CommandRun restarted = Launch(2, LoraArgs(killed) + common, "ZEROTUNE_TEST_CRASH_AT=1:6",
                               "--max_restarts 1");
  ASSERT_EQ(restarted.exit_code, 0) << restarted.output;
  EXPECT_NE(restarted.output.find("after 1 restart(s)"), std::string::npos) << restarted.output;
  EXPECT_NE(restarted.output.find("resumed from " + killed + "/checkpoint-4"), std::string::npos)
      << restarted.output;
  const Tensors a = ReadAdapter(plain), b = ReadAdapter(killed);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) EXPECT_TRUE(tensor.equal(b.at(name))) << name;
  EXPECT_EQ(fs::exists(killed + "/checkpoint-2"), false) << "save_total_limit 2 keeps 6 and 8";
  EXPECT_TRUE(fs::exists(killed + "/checkpoint-8/adapter_model.safetensors"));
}

TEST_F(TrainE2eTest, BadInputFailsWithItsMessageAndLeavesNoOutput) {
  testing::TempDir scratch;
  const std::string bad_data = scratch.Join("bad.jsonl");
  std::ofstream(bad_data) << "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n{oops\n";
  const std::string conflict = scratch.Join("ds.json");
  std::ofstream(conflict) << R"({"train_micro_batch_size_per_gpu": 2})";
  struct Case {
    std::string name, flags, message;
  };
  const std::string data = " --data_path " + Source("examples/identity.jsonl");
  for (const Case& c : std::vector<Case>{
           {"missing model", "--model_name_or_path " + scratch.Join("nope") + data,
            "--model_name_or_path " + scratch.Join("nope") + ": no such folder"},
           {"unreadable dataset", "--model_name_or_path " + Model() + " --data_path " + bad_data,
            bad_data + ":2"},
           {"missing dataset", "--model_name_or_path " + Model() + " --data_path " +
                                   scratch.Join("none.json"),
            scratch.Join("none.json")},
           {"bad flag value", "--model_name_or_path " + Model() + data + " --learning_rate fast",
            "--learning_rate: expected a finite number, got \"fast\""},
           {"flag / ds_config conflict",
            "--model_name_or_path " + Model() + data + " --deepspeed " + conflict +
                " --per_device_train_batch_size 4",
            "per_device_train_batch_size"},
           {"8-bit optimizer", "--model_name_or_path " + Model() + data + " --optim paged_adamw_8bit",
            "--optim paged_adamw_8bit: not available in this build"},
       }) {
    const std::string out = scratch.Join("out-" + std::to_string(c.name.size()));
    const CommandRun run = Worker(c.flags + " --output_dir " + out + " --max_steps 2");
    EXPECT_NE(run.exit_code, 0) << c.name;
    EXPECT_NE(run.output.find(c.message), std::string::npos) << c.name << ":\n" << run.output;
    EXPECT_FALSE(fs::exists(out + "/adapter_model.safetensors")) << c.name;
    EXPECT_FALSE(fs::exists(out + "/checkpoint-2")) << c.name;
  }
  // Through the launcher: the job fails and says why.
  const CommandRun launched = Launch(2, "--model_name_or_path " + scratch.Join("nope") + data +
                                     " --output_dir " + scratch.Join("launched"));
  EXPECT_NE(launched.exit_code, 0);
  EXPECT_NE(launched.output.find("no such folder"), std::string::npos) << launched.output;
}

// ZeRO-2 with optimizer offload, and ZeRO-3 (the 4-bit base partitioned across the 2 ranks).
TEST_F(TrainE2eTest, QloraThroughTheLauncherAtStagesTwoAndThreeWritesAPeftAdapter) {
  for (const char* ds : {"zero2_offload_auto", "zero3"}) {
    const std::string out = Out(std::string("qlora-") + ds);
    const CommandRun run = Launch(2, absl::StrCat("--model_name_or_path ", Model(), " --data_path ",
                                           Source("examples/identity.jsonl"), " --output_dir ", out,
                                           " --max_steps 2 --per_device_train_batch_size 2",
                                           " --use_lora --q_lora --bf16 --learning_rate 1e-3",
                                           " --deepspeed ", Source(absl::StrCat("configs/ds/", ds, ".json"))));
    ASSERT_EQ(run.exit_code, 0) << ds << ":\n" << run.output;
    EXPECT_TRUE(fs::exists(out + "/adapter_model.safetensors")) << run.output;
    EXPECT_TRUE(fs::exists(out + "/adapter_config.json"));
  }
}

TEST_F(TrainE2eTest, FullFineTuningAtStageTwoExportsAModelThatReloads) {
  const std::string out = Out("full");
  const CommandRun run = Launch(2, absl::StrCat("--model_name_or_path ", Model(), " --data_path ",
                                         Source("examples/identity.jsonl"), " --output_dir ", out,
                                         " --max_steps 2 --per_device_train_batch_size 2",
                                         " --learning_rate 1e-4 --deepspeed ",
                                         Source("configs/ds/zero2_offload_auto.json")));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("trainable%: 100.0000"), std::string::npos) << run.output;
  absl::StatusOr<model::Decoder> base = model::LoadModelFolder(Model(), at::kFloat);
  absl::StatusOr<model::Decoder> trained = model::LoadModelFolder(out, at::kFloat);
  ASSERT_TRUE(base.ok() && trained.ok()) << trained.status();
  const at::Tensor before = base->layers()[0].q_proj.weight, after = trained->layers()[0].q_proj.weight;
  EXPECT_FALSE(before.equal(after)) << "full fine-tuning changed no weight";
  EXPECT_LT((after - before).abs().max().item<double>(), 1e-2);
}

// ZeRO-3 with parameter and optimizer offload: the frozen base and the adapters partitioned
// per parameter, gathered just in time. The adapter equals stage 0's, the checkpoints hold the
// whole (gathered) adapter and the per-parameter pieces, and a rank killed at step 5 resumes
// from checkpoint-4 to the same bits as the uninterrupted run.
TEST_F(TrainE2eTest, TwoRankZero3OffloadEqualsStageZeroAndResumesBitwise) {
  const std::string zero3 = Out("zero3"), stage0 = Out("zero3-stage0"), killed = Out("zero3-killed");
  // 5 eval samples on 2 ranks in batches of 2: rank 1 pads its second forward (lockstep).
  const std::string eval = Out("eval5.jsonl");
  {
    std::ifstream in(Source("examples/identity.jsonl"));
    std::ofstream five(eval);
    std::string line;
    for (int i = 0; i < 5 && std::getline(in, line); ++i) five << line << "\n";
  }
  const std::string common = " --lora_dropout 0 --max_steps 6 --save_steps 2 --gradient_checkpointing"
                             " --eval_data_path " + eval + " --eval_steps 3 --per_device_eval_batch_size 2";
  const std::string ds = " --deepspeed " + Source("configs/ds/zero3_offload.json");
  const CommandRun two = Launch(2, LoraArgs(zero3) + common + " --per_device_train_batch_size 4" + ds);
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_NE(two.output.find("ZeRO stage 3 with CPU offload and parameter offload"),
            std::string::npos) << two.output;
  const CommandRun one = Worker(LoraArgs(stage0) + common + " --per_device_train_batch_size 8");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const Tensors trained = ReadAdapter(zero3);
  EXPECT_LE(RelativeDifference(trained, ReadAdapter(stage0)), 1e-5);
  std::vector<double> eval_losses[2];
  for (int run = 0; run < 2; ++run) {
    std::ifstream state((run == 0 ? zero3 : stage0) + "/checkpoint-6/trainer_state.json");
    const nlohmann::json parsed = nlohmann::json::parse(state);
    for (const nlohmann::json& row : parsed["log_history"]) {
      if (row.contains("eval_loss")) eval_losses[run].push_back(row["eval_loss"].get<double>());
    }
  }
  ASSERT_EQ(eval_losses[0].size(), 2u) << two.output;
  ASSERT_EQ(eval_losses[1].size(), 2u) << one.output;
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(eval_losses[0][i], eval_losses[1][i], 1e-5);

  // DeepSpeed's ZeRO-3 + LoRA complaint (docs/training.md): no empty adapter tensors.
  const Tensors saved = ReadAdapter(zero3 + "/checkpoint-4");
  ASSERT_EQ(saved.size(), trained.size());
  for (const auto& [name, tensor] : saved) {
    EXPECT_EQ(tensor.sizes(), trained.at(name).sizes()) << name;
  }
  std::ifstream manifest(zero3 + "/checkpoint-4/manifest.json");
  const nlohmann::json m = nlohmann::json::parse(manifest);
  EXPECT_EQ(m["zero_stage"], 3);
  EXPECT_EQ(m["partition_world"], 2);

  const CommandRun restarted = Launch(2, LoraArgs(killed) + common + " --per_device_train_batch_size 4" + ds,
                                      "ZEROTUNE_TEST_CRASH_AT=1:5", "--max_restarts 1");
  ASSERT_EQ(restarted.exit_code, 0) << restarted.output;
  EXPECT_NE(restarted.output.find("resumed from " + killed + "/checkpoint-4"), std::string::npos)
      << restarted.output;
  const Tensors resumed = ReadAdapter(killed);
  for (const auto& [name, tensor] : trained) EXPECT_TRUE(tensor.equal(resumed.at(name))) << name;
}

// bf16 LoRA from the fp32 model file: stage 3 maps the file as it is and casts each rank's
// pieces while partitioning (no rank holds the whole bf16 copy); the adapter is the one stage 2
// trains from the model cast whole.
TEST_F(TrainE2eTest, Bf16AtStageThreeCastsWhilePartitioningAndEqualsStageTwo) {
  const std::string zero2 = Out("bf16-z2"), zero3 = Out("bf16-z3");
  const std::string common = " --lora_dropout 0 --max_steps 4 --per_device_train_batch_size 4 --bf16";
  const CommandRun two = Launch(2, LoraArgs(zero2) + common + " --deepspeed " +
                                       Source("configs/ds/zero2.json"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  const CommandRun three = Launch(2, LoraArgs(zero3) + common + " --deepspeed " +
                                         Source("configs/ds/zero3.json"));
  ASSERT_EQ(three.exit_code, 0) << three.output;
  EXPECT_NE(three.output.find("ZeRO stage 3"), std::string::npos) << three.output;
  EXPECT_LE(RelativeDifference(ReadAdapter(zero3), ReadAdapter(zero2)), 1e-6);
}

// Full fine-tuning at stage 3: with stage3_gather_16bit_weights_on_model_save the ranks gather
// every tensor and rank 0 writes the HF folder, equal to stage 2's; without it (DeepSpeed's
// save_16bit_model saves nothing) the final checkpoint holds the weights and export writes the
// same folder from it.
TEST_F(TrainE2eTest, FullFineTuningAtStageThreeGathersOrLeavesACheckpoint) {
  testing::TempDir scratch;
  const std::string no_gather = scratch.Join("ds.json");
  std::ofstream(no_gather) << R"({"train_micro_batch_size_per_gpu": "auto",
      "gradient_accumulation_steps": "auto", "optimizer": {"type": "AdamW", "params": {"lr": "auto",
      "weight_decay": "auto"}}, "zero_optimization": {"stage": 3,
      "stage3_param_persistence_threshold": 0}})";
  auto args = [&](const std::string& out, const std::string& ds) {
    return absl::StrCat("--model_name_or_path ", Model(), " --data_path ",
                        Source("examples/identity.jsonl"), " --output_dir ", out,
                        " --max_steps 2 --per_device_train_batch_size 2 --learning_rate 1e-4",
                        " --deepspeed ", ds);
  };
  const std::string stage2 = Out("full-z2"), gathered = Out("full-z3"), kept = Out("full-z3-ckpt");
  ASSERT_EQ(Launch(2, args(stage2, Source("configs/ds/zero2.json"))).exit_code, 0);
  const CommandRun run = Launch(2, args(gathered, Source("configs/ds/zero3.json")));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto weights = [](const std::string& dir) {
    absl::StatusOr<model::Decoder> d = model::LoadModelFolder(dir, at::kFloat);
    EXPECT_TRUE(d.ok()) << dir << ": " << d.status();
    Tensors out;
    if (!d.ok()) return out;
    for (const auto& [name, t] : d->BaseStateDict()) out[name] = t.clone();
    return out;
  };
  const Tensors reference = weights(stage2);
  EXPECT_LE(RelativeDifference(weights(gathered), reference), 1e-6);

  const CommandRun without = Launch(2, args(kept, no_gather));
  ASSERT_EQ(without.exit_code, 0) << without.output;
  EXPECT_NE(without.output.find("stage3_gather_16bit_weights_on_model_save is false"),
            std::string::npos) << without.output;
  EXPECT_FALSE(fs::exists(kept + "/config.json"));
  const std::string exported = scratch.Join("exported");
  const CommandRun exp = Shell(absl::StrCat(ZT_WORKER_BIN, " export --checkpoint ", kept,
                                            "/checkpoint-2 --out ", exported));
  ASSERT_EQ(exp.exit_code, 0) << exp.output;
  EXPECT_LE(RelativeDifference(weights(exported), reference), 1e-6);
}

TEST_F(TrainE2eTest, HelpIsTheArgumentRegistry) {
  const CommandRun help = Shell(absl::StrCat(ZT_WORKER_BIN, " train --help"));
  ASSERT_EQ(help.exit_code, 0) << help.output;
  for (const configs::ArgumentSpec& spec : configs::TrainingArgumentSpecs()) {
    EXPECT_NE(help.output.find(absl::StrCat("--", spec.name, " ")), std::string::npos) << spec.name;
    // CLI11 wraps long help lines: compare the first words.
    const std::string words = std::string(spec.help).substr(0, 24);
    EXPECT_NE(help.output.find(words), std::string::npos) << spec.name << ": " << words;
  }
}

// The demo job (configs/jobs/demo.json), as README's run command trains it.
TEST_F(TrainE2eTest, DemoJobMemorisesItsConversations) {
  const std::string out = Out("demo");
  const CommandRun run = Shell(absl::StrCat("cd ", ZT_SOURCE_ROOT_DIR, " && ", ZT_ZEROTUNE_BIN,
                                     " launch --nproc_per_node 2 --config configs/jobs/demo.json",
                                     " -- --model_name_or_path ", Model(), " --output_dir ", out));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  double final_eval = -1;
  for (const nlohmann::json& row : Metrics(out)) {
    if (row.contains("eval_loss")) final_eval = row["eval_loss"].get<double>();
  }
  EXPECT_GE(final_eval, 0);
  EXPECT_LT(final_eval, 0.5) << "nats/token on the memorisation set";

  // Reload base + adapter: the same eval loss, and greedy decoding of every training prompt.
  absl::StatusOr<model::Decoder> model = model::LoadModelFolder(Model(), at::kFloat, out);
  ASSERT_TRUE(model.ok()) << model.status();
  configs::TrainingArguments args;
  args.model_name_or_path = Model();
  args.data_path = Source("examples/identity.jsonl");
  args.eval_data_path = args.data_path;
  args.model_max_length = 128;
  absl::StatusOr<TrainingData> data = LoadTrainingData(args, Model());
  ASSERT_TRUE(data.ok()) << data.status();
  at::NoGradGuard no_grad;
  std::vector<double> sample_loss, sample_targets;
  int reproduced = 0;
  for (size_t i = 0; i < data->eval.size(); ++i) {
    const Batch b = CollateBatch(data->eval, {static_cast<int64_t>(i)}, data->pad_id);
    sample_loss.push_back(SummedCausalLmLossOnTargets(model->Hidden(b.input_ids, b.attention_mask),
                                                      model->lm_head(), b.labels)
                              .item<double>());
    sample_targets.push_back(static_cast<double>(b.target_tokens));
    // The prompt is everything before the first trained token; the answer the trained tokens.
    const data::TokenizedSample& s = data->eval[i];
    size_t first = 0;
    while (first < s.labels.size() && s.labels[first] == data::kIgnoreIndex) ++first;
    const std::vector<int64_t> prompt(s.input_ids.begin(), s.input_ids.begin() + first);
    std::vector<int64_t> expected;
    for (size_t t = first; t < s.labels.size() && s.labels[t] != data::kIgnoreIndex; ++t) {
      expected.push_back(s.labels[t]);
    }
    const std::vector<int64_t> greedy = model::GreedyGenerate(
        *model, at::tensor(prompt, at::kLong).unsqueeze(0), static_cast<int64_t>(expected.size()));
    reproduced += greedy == expected;
  }
  // HF's eval_loss as the 2 ranks computed it: rank r's shard is samples r, r + 2, ...; eval
  // step f takes batch f (per_device_eval_batch_size 8) of both shards, its loss per target
  // token over both, weighted by the step's samples.
  double weighted = 0, samples = 0;
  for (size_t begin = 0; 2 * begin < sample_loss.size(); begin += 8) {
    double loss = 0, targets = 0, count = 0;
    for (size_t rank = 0; rank < 2; ++rank) {
      for (size_t j = begin; j < begin + 8; ++j) {
        const size_t i = rank + 2 * j;
        if (i >= sample_loss.size()) break;
        loss += sample_loss[i];
        targets += sample_targets[i];
        ++count;
      }
    }
    weighted += loss / targets * count;
    samples += count;
  }
  EXPECT_NEAR(weighted / samples, final_eval, 1e-6 * final_eval);
  EXPECT_GE(reproduced, static_cast<int>(0.9 * data->eval.size()))
      << reproduced << " of " << data->eval.size() << " answers reproduced";
}

}  // namespace
}  // namespace zt::worker::train
