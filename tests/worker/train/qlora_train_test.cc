// --q_lora through the real Trainer at 1 rank: against the HF Trainer + PEFT + bitsandbytes
// golden (tests/golden/qlora_trainer_goldens.py) at ZeRO stages 0-3 (stage 3: the 4-bit base
// partitioned), with optimizer (and parameter) offload and --optim paged_adamw_32bit; a 16-bit
// folder quantized while loading trains exactly as the folder `zerotune-worker quantize` writes
// from it; save and resume at stages 2 and 3; the refused combinations.
//
// Tolerances come from the golden's own noise floor: the same reference run at 2 threads and
// with SDPA instead of eager attention (equally valid summation orders, which the bf16
// roundings of the 4-bit matmuls amplify). A step's loss may differ from HF's by at most twice
// the run's largest floor (differences carry forward through the updates), the final adapter by
// twice the adapter floor, relative; step 1 (no update yet) by twice its own floor.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "common/torch_compat.h"
#include "sharding/collectives/in_memory_store.h"
#include "sharding/collectives/self_communicator.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"
#include "worker/io/safetensors_file.h"
#include "worker/model/quantize_command.h"
#include "worker/train/trainer.h"

namespace zt::worker::train {
namespace {

using TensorMap = std::map<std::string, at::Tensor>;

std::string GoldenDir() { return zt::testing::TestDataPath("qlora_trainer_goldens"); }

TensorMap ReadAll(const std::string& path, const std::string& prefix) {
  TensorMap out;
  absl::StatusOr<std::shared_ptr<io::SafetensorsFile>> file = io::SafetensorsFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return out;
  for (const std::string& name : (*file)->Names()) {
    if (!absl::StartsWith(name, prefix)) continue;
    absl::StatusOr<at::Tensor> t = (*file)->Get(name);
    EXPECT_TRUE(t.ok()) << t.status();
    if (t.ok()) out[name.substr(prefix.size())] = t->to(at::kDouble);
  }
  return out;
}

std::vector<double> Series(const TensorMap& all, const std::string& key) {
  const at::Tensor t = all.at(key).contiguous();
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

double RelativeError(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).norm().item<double>() /
         std::max(b.to(at::kDouble).norm().item<double>(), 1e-12);
}

class LossRecorder : public TrainingObserver {
 public:
  absl::Status OnMetrics(int64_t, int64_t, double,
                         const std::map<std::string, double>& values) override {
    if (auto it = values.find("loss"); it != values.end()) losses.push_back(it->second);
    return absl::OkStatus();
  }
  std::vector<double> losses;
};

// The golden case's flags ({data} resolved) with `extra` appended and --output_dir.
std::vector<std::string> GoldenFlags() {
  std::ifstream in(GoldenDir() + "/cases.json");
  const nlohmann::json cases = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> flags;
  for (const nlohmann::json& f : cases.at("qlora").at("flags")) {
    flags.push_back(
        absl::StrReplaceAll(f.get<std::string>(), {{"{data}", zt::testing::TestDataPath("")}}));
  }
  return flags;
}

void SetFlag(std::vector<std::string>& flags, const std::string& name, const std::string& value) {
  for (size_t i = 0; i + 1 < flags.size(); i += 2) {
    if (flags[i] == name) {
      flags[i + 1] = value;
      return;
    }
  }
  flags.push_back(name);
  flags.push_back(value);
}

absl::StatusOr<configs::TrainingArguments> Arguments(const std::vector<std::string>& flags) {
  configs::TrainingArguments args;
  for (size_t i = 0; i + 1 < flags.size(); i += 2) {
    ZT_RETURN_IF_ERROR(configs::SetArgument(args, flags[i].substr(2), flags[i + 1]));
  }
  configs::Diagnostics diag;
  configs::ValidateTrainingArguments(args, diag);
  if (diag.has_errors()) return diag.ToStatus("training arguments");
  return args;
}

absl::StatusOr<std::unique_ptr<Trainer>> MakeTrainer(const std::vector<std::string>& flags,
                                                     TrainingObserver* observer) {
  ZT_ASSIGN_OR_RETURN(configs::TrainingArguments args, Arguments(flags));
  TrainerPlacement placement;
  placement.store = std::make_shared<sharding::InMemoryStore>();
  return Trainer::Create(args, std::make_shared<sharding::SelfCommunicator>(), placement, observer);
}

// Trains `flags` to the end; the logged losses.
std::vector<double> Train(const std::vector<std::string>& flags) {
  LossRecorder recorder;
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = MakeTrainer(flags, &recorder);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  if (!trainer.ok()) return {};
  absl::StatusOr<TrainResult> result = (*trainer)->Train();
  EXPECT_TRUE(result.ok()) << result.status();
  return recorder.losses;
}

std::string DsConfig(const std::string& name) {
  return absl::StrCat(ZT_SOURCE_ROOT_DIR, "/configs/ds/", name, ".json");
}

// ---------------------------------------------------------------- against HF

struct GoldenVariant {
  std::string name;
  std::vector<std::string> extra;  // flag, value pairs
};

class QloraGoldenTest : public ::testing::TestWithParam<GoldenVariant> {};

TEST_P(QloraGoldenTest, EveryStepAndTheAdapterMatchHfWithinItsNoiseFloor) {
  const TensorMap golden = ReadAll(GoldenDir() + "/qlora.safetensors", "");
  const std::vector<double> hf = Series(golden, "loss");
  const std::vector<double> threads2 = Series(golden, "loss_threads2");
  const std::vector<double> sdpa = Series(golden, "loss_sdpa");
  // The golden can catch a loop that does nothing.
  ASSERT_GT(hf.front() - hf.back(), 0.5);

  zt::testing::TempDir dir;
  std::vector<std::string> flags = GoldenFlags();
  for (size_t i = 0; i + 1 < GetParam().extra.size(); i += 2) {
    SetFlag(flags, GetParam().extra[i], GetParam().extra[i + 1]);
  }
  SetFlag(flags, "--output_dir", dir.Join("out"));
  const std::vector<double> losses = Train(flags);
  ASSERT_EQ(losses.size(), hf.size());
  // Step 1 is the forward and backward before any update: its own floor. Later steps carry
  // the updates' differences forward, which Adam amplifies: the whole run's floor.
  double floor = 1e-6, worst = 0;
  for (size_t i = 0; i < hf.size(); ++i) {
    floor = std::max({floor, std::abs(hf[i] - threads2[i]), std::abs(hf[i] - sdpa[i])});
  }
  const double first_floor =
      std::max({1e-6, std::abs(hf[0] - threads2[0]), std::abs(hf[0] - sdpa[0])});
  for (size_t i = 0; i < hf.size(); ++i) {
    const double diff = std::abs(losses[i] - hf[i]);
    const double tolerance = 2 * (i == 0 ? first_floor : floor);
    worst = std::max(worst, diff);
    EXPECT_LE(diff, tolerance) << "step " << i + 1 << ": zerotune " << losses[i] << ", HF " << hf[i]
                               << " (noise floor " << tolerance / 2 << ")";
  }
  const TensorMap final_hf = ReadAll(GoldenDir() + "/qlora.safetensors", "final.");
  const TensorMap init = ReadAll(GoldenDir() + "/qlora.safetensors", "init.");
  const TensorMap threads2_final = ReadAll(GoldenDir() + "/qlora.safetensors", "threads2.final.");
  const TensorMap sdpa_final = ReadAll(GoldenDir() + "/qlora.safetensors", "sdpa.final.");
  const TensorMap ours = ReadAll(dir.Join("out/adapter_model.safetensors"), "");
  ASSERT_EQ(ours.size(), final_hf.size());
  double adapter_floor = 0, adapter_worst = 0, moved = 0;
  for (const auto& [name, g] : final_hf) {
    adapter_floor = std::max({adapter_floor, RelativeError(threads2_final.at(name), g),
                              RelativeError(sdpa_final.at(name), g)});
    moved = std::max(moved, RelativeError(g, init.at(name)));
  }
  for (const auto& [name, g] : final_hf) {
    ASSERT_TRUE(ours.count(name)) << name;
    const double e = RelativeError(ours.at(name), g);
    adapter_worst = std::max(adapter_worst, e);
    EXPECT_LE(e, 2 * adapter_floor) << name;
  }
  EXPECT_GT(moved, 10 * adapter_floor) << "the golden adapter barely moves";
  std::printf(
      "qlora golden %s: loss worst %.3g (floor %.3g), adapter worst %.3g (floor %.3g, "
      "moved %.3g)\n",
      GetParam().name.c_str(), worst, floor, adapter_worst, adapter_floor, moved);
}

INSTANTIATE_TEST_SUITE_P(
    OneRank, QloraGoldenTest,
    ::testing::Values(GoldenVariant{"no_ds_config", {}},
                      GoldenVariant{"zero0", {"--deepspeed", DsConfig("zero0")}},
                      GoldenVariant{"zero1", {"--deepspeed", DsConfig("zero1")}},
                      GoldenVariant{"zero2", {"--deepspeed", DsConfig("zero2")}},
                      GoldenVariant{"gradient_checkpointing", {"--gradient_checkpointing", "true"}},
                      GoldenVariant{"zero2_offload",
                                    {"--deepspeed", DsConfig("zero2_offload_auto")}},
                      GoldenVariant{"zero3", {"--deepspeed", DsConfig("zero3")}},
                      GoldenVariant{"zero3_offload", {"--deepspeed", DsConfig("zero3_offload")}},
                      GoldenVariant{"paged_adamw_32bit", {"--optim", "paged_adamw_32bit"}}),
    [](const ::testing::TestParamInfo<GoldenVariant>& info) { return info.param.name; });

// ---------------------------------------------------------------- zerotune alone

// The golden's flags for `steps` steps on `model`, fp32 compute (the quickest).
std::vector<std::string> ShortRun(const std::string& model, const std::string& out, int steps) {
  std::vector<std::string> flags = GoldenFlags();
  SetFlag(flags, "--model_name_or_path", model);
  SetFlag(flags, "--output_dir", out);
  SetFlag(flags, "--max_steps", std::to_string(steps));
  return flags;
}

// Three steps of a fresh LoRA (no adapter continued) on `model` with --q_lora, computing in the
// dtype `compute_flag` (--bf16 or --fp16) names.
std::vector<std::string> FreshLoraRun(const std::string& model, const std::string& out,
                                      const std::string& compute_flag) {
  return {"--model_name_or_path", model, "--data_path",
          zt::testing::TestDataPath("trainer_goldens/train.jsonl"), "--output_dir", out,
          "--use_lora", "true", "--q_lora", "true", compute_flag, "true", "--lora_r", "4",
          "--lora_dropout", "0", "--per_device_train_batch_size", "8", "--max_steps", "3",
          "--learning_rate", "1e-2", "--logging_steps", "1", "--save_strategy", "no"};
}

std::string QuantizedFolder(const zt::testing::TempDir& dir) {
  model::QuantizeRequest request;
  request.model = GoldenDir() + "/model_bf16";
  request.out = dir.Join("bnb-4bit");
  request.double_quant = true;
  request.compute_dtype = "bf16";
  absl::StatusOr<std::string> done = model::RunQuantize(request);
  EXPECT_TRUE(done.ok()) << done.status();
  return request.out;
}

TEST(QloraTrainTest, SixteenBitAndPrequantizedFoldersTrainIdentically) {
  zt::testing::TempDir dir;
  const std::string quantized = QuantizedFolder(dir);
  const std::vector<double> from16 =
      Train(ShortRun(GoldenDir() + "/model_bf16", dir.Join("from16"), 4));
  const std::vector<double> from4 = Train(ShortRun(quantized, dir.Join("from4"), 4));
  // The folder transformers + bitsandbytes save_pretrained wrote from the same 16-bit model.
  const std::vector<double> from_hf =
      Train(ShortRun(GoldenDir() + "/model_bnb4bit", dir.Join("from_hf"), 4));
  ASSERT_EQ(from16.size(), 4u);
  EXPECT_EQ(from16, from4);  // the same quantization, bit for bit
  EXPECT_EQ(from16, from_hf);
  for (double loss : from16) EXPECT_TRUE(std::isfinite(loss));
  EXPECT_LT(from16.back(), from16.front());
  for (const char* file : {"adapter_config.json", "adapter_model.safetensors"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.Join(std::string("from16/") + file))) << file;
  }
  const TensorMap a = ReadAll(dir.Join("from16/adapter_model.safetensors"), "");
  const TensorMap b = ReadAll(dir.Join("from4/adapter_model.safetensors"), "");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(at::equal(t, b.at(name))) << name;
  // Without an adapter to continue: fresh LoRA on the 4-bit base, bf16 compute throughout.
  const std::vector<double> bf16 = Train(FreshLoraRun(quantized, dir.Join("fresh"), "--bf16"));
  ASSERT_EQ(bf16.size(), 3u);
  EXPECT_LT(bf16.back(), bf16.front());
}

TEST(QloraTrainTest, Fp16ComputeTrainsWithLossScaling) {
  // Qwen's finetune.py --fp16 --q_lora.
  zt::testing::TempDir dir;
  const std::vector<double> fp16 =
      Train(FreshLoraRun(GoldenDir() + "/model_bf16", dir.Join("fp16"), "--fp16"));
  ASSERT_EQ(fp16.size(), 3u);
  for (double loss : fp16) EXPECT_TRUE(std::isfinite(loss));
}

// ZeRO-2 with optimizer offload (the shipped QLoRA job) and ZeRO-3 (the 4-bit base partitioned).
class QloraResumeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(QloraResumeTest, ResumingFromACheckpointEndsWhereTheUninterruptedRunEnds) {
  zt::testing::TempDir dir;
  std::vector<std::string> whole = ShortRun(GoldenDir() + "/model_bf16", dir.Join("whole"), 4);
  SetFlag(whole, "--deepspeed", DsConfig(GetParam()));
  SetFlag(whole, "--save_strategy", "steps");
  SetFlag(whole, "--save_steps", "2");
  const std::vector<double> uninterrupted = Train(whole);
  ASSERT_TRUE(std::filesystem::exists(dir.Join("whole/checkpoint-2")));
  std::vector<std::string> resumed = whole;
  SetFlag(resumed, "--output_dir", dir.Join("resumed"));
  SetFlag(resumed, "--resume_from_checkpoint", dir.Join("whole/checkpoint-2"));
  const std::vector<double> tail = Train(resumed);
  ASSERT_EQ(uninterrupted.size(), 4u);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0], uninterrupted[2]);
  EXPECT_EQ(tail[1], uninterrupted[3]);
  const TensorMap a = ReadAll(dir.Join("whole/adapter_model.safetensors"), "");
  const TensorMap b = ReadAll(dir.Join("resumed/adapter_model.safetensors"), "");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(at::equal(t, b.at(name))) << name;
}

INSTANTIATE_TEST_SUITE_P(Stages, QloraResumeTest,
                         ::testing::Values("zero2_offload_auto", "zero3"));

// ---------------------------------------------------------------- refused combinations

struct RefusedCase {
  std::string name;
  std::vector<std::string> flags;  // on top of ShortRun over the pre-quantized folder
  std::string message;             // a part of the error
};

TEST(QloraTrainTest, BadCombinationsAreRefusedNamingTheFlagAndValue) {
  zt::testing::TempDir dir;
  const std::string quantized = QuantizedFolder(dir);
  const std::vector<RefusedCase> cases = {
      {"lora_without_q_lora",
       {"--q_lora", "false", "--bnb_4bit_quant_type", "nf4"},
       "--bnb_4bit_quant_type: applies to QLoRA only"},
      {"prequantized_without_q_lora",
       {"--q_lora", "false", "--bnb_4bit_use_double_quant", "true"},
       "--bnb_4bit_use_double_quant: applies to QLoRA only"},
      {"contradicting_quant_type",
       {"--bnb_4bit_quant_type", "fp4"},
       "--bnb_4bit_quant_type fp4 contradicts"},
      {"contradicting_compute_dtype",
       {"--bnb_4bit_compute_dtype", "fp32"},
       "bnb_4bit_compute_dtype = \"bfloat16\""},
      {"contradicting_double_quant",
       {"--bnb_4bit_use_double_quant", "false"},
       "--bnb_4bit_use_double_quant false contradicts"},
      {"8bit_optimizer", {"--optim", "paged_adamw_8bit"}, "--optim paged_adamw_8bit"},
      {"bad_compute_dtype",
       {"--bnb_4bit_compute_dtype", "int8"},
       "--bnb_4bit_compute_dtype: \"int8\", expected bf16, fp16 or fp32"},
  };
  for (const RefusedCase& c : cases) {
    std::vector<std::string> flags = ShortRun(quantized, dir.Join("out_" + c.name), 1);
    // The golden continues an adapter; these cases need no adapter and a folder whose
    // quantization_config the flags contradict.
    SetFlag(flags, "--adapter_name_or_path", "");
    SetFlag(flags, "--use_lora", "true");
    SetFlag(flags, "--bnb_4bit_compute_dtype", "bf16");
    for (size_t i = 0; i + 1 < c.flags.size(); i += 2) SetFlag(flags, c.flags[i], c.flags[i + 1]);
    std::vector<std::string> kept;
    for (size_t i = 0; i + 1 < flags.size(); i += 2) {
      // A non-QLoRA case must not carry the golden's QLoRA-only flags.
      const bool qlora_only = flags[i] == "--kbit_upcast" || flags[i] == "--bnb_4bit_compute_dtype";
      if (c.name == "lora_without_q_lora" || c.name == "prequantized_without_q_lora") {
        if (qlora_only ||
            (flags[i] == "--bnb_4bit_quant_type" && c.name != "lora_without_q_lora") ||
            (flags[i] == "--bnb_4bit_use_double_quant" &&
             c.name != "prequantized_without_q_lora")) {
          continue;
        }
      }
      if (flags[i] == "--adapter_name_or_path") continue;
      kept.push_back(flags[i]);
      kept.push_back(flags[i + 1]);
    }
    absl::StatusOr<std::unique_ptr<Trainer>> trainer = MakeTrainer(kept, nullptr);
    ASSERT_FALSE(trainer.ok()) << c.name;
    EXPECT_TRUE(absl::StrContains(trainer.status().message(), c.message))
        << c.name << ": " << trainer.status();
  }
  // A pre-quantized folder without --q_lora (LoRA or full fine-tuning) names the folder.
  std::vector<std::string> plain = {
      "--model_name_or_path", quantized,
      "--data_path",          zt::testing::TestDataPath("trainer_goldens/train.jsonl"),
      "--output_dir",         dir.Join("plain"),
      "--use_lora",           "true",
      "--max_steps",          "1"};
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = MakeTrainer(plain, nullptr);
  ASSERT_FALSE(trainer.ok());
  EXPECT_TRUE(absl::StrContains(trainer.status().message(), "LoRA on it needs --q_lora"))
      << trainer.status();
  EXPECT_FALSE(std::filesystem::exists(dir.Join("plain/adapter_model.safetensors")));
}

}  // namespace
}  // namespace zt::worker::train
