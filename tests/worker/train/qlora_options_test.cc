// What --q_lora loads, from the flags and a pre-quantized folder's quantization_config.
#include "worker/train/qlora_options.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace zt::worker::train {
namespace {

configs::TrainingArguments QloraArgs(std::vector<std::pair<std::string, std::string>> flags = {}) {
  configs::TrainingArguments args;
  flags.insert(flags.begin(), {{"use_lora", "true"}, {"q_lora", "true"}});
  for (const auto& [name, value] : flags) EXPECT_TRUE(configs::SetArgument(args, name, value).ok());
  return args;
}

configs::ModelConfig Prequantized(const std::string& type, bool double_quant,
                                  const std::string& compute) {
  configs::ModelConfig config;
  configs::BnbQuantization q;
  q.load_in_4bit = true;
  q.bnb_4bit_quant_type = type;
  q.bnb_4bit_use_double_quant = double_quant;
  q.bnb_4bit_compute_dtype = compute;
  config.quantization = q;
  return config;
}

TEST(QloraOptionsTest, WithoutQloraNothingIsQuantized) {
  configs::TrainingArguments args;
  absl::StatusOr<std::optional<QloraLoad>> load = ResolveQloraLoad(args, {}, "m");
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_FALSE(load->has_value());
}

TEST(QloraOptionsTest, SixteenBitFolderTakesTheFlagsAndConfigDtype) {
  configs::ModelConfig config;
  config.dtype = "bfloat16";
  absl::StatusOr<std::optional<QloraLoad>> load =
      ResolveQloraLoad(QloraArgs({{"bf16", "true"}}), config, "m");
  ASSERT_TRUE(load.ok() && load->has_value()) << load.status();
  const model::Load4bitOptions& o = (*load)->four_bit;
  EXPECT_FALSE(o.prequantized);
  EXPECT_EQ(o.quant_type, kernels::Quant4Type::kNf4);
  EXPECT_TRUE(o.double_quant);  // Qwen's finetune.py default
  EXPECT_EQ(o.compute_dtype, at::kBFloat16);
  EXPECT_EQ(o.quantize_dtype, at::kBFloat16);
  EXPECT_EQ((*load)->unquantized_dtype, at::kBFloat16);

  load = ResolveQloraLoad(QloraArgs({{"bf16", "true"},
                                     {"bnb_4bit_quant_type", "fp4"},
                                     {"bnb_4bit_use_double_quant", "false"},
                                     {"bnb_4bit_compute_dtype", "fp32"},
                                     {"kbit_upcast", "fp32"}}),
                          configs::ModelConfig{}, "m");
  ASSERT_TRUE(load.ok() && load->has_value()) << load.status();
  EXPECT_EQ((*load)->four_bit.quant_type, kernels::Quant4Type::kFp4);
  EXPECT_FALSE((*load)->four_bit.double_quant);
  EXPECT_EQ((*load)->four_bit.compute_dtype, at::kFloat);
  EXPECT_EQ((*load)->four_bit.quantize_dtype, at::ScalarType::Undefined);  // the file's
  EXPECT_EQ((*load)->unquantized_dtype, at::kFloat);  // prepare_model_for_kbit_training
}

TEST(QloraOptionsTest, PrequantizedFolderWinsAndAgreeingFlagsPass) {
  absl::StatusOr<std::optional<QloraLoad>> load =
      ResolveQloraLoad(QloraArgs({{"bf16", "true"}, {"bnb_4bit_quant_type", "fp4"}}),
                       Prequantized("fp4", false, "float16"), "m");
  ASSERT_TRUE(load.ok() && load->has_value()) << load.status();
  EXPECT_TRUE((*load)->four_bit.prequantized);
  EXPECT_EQ((*load)->four_bit.compute_dtype, at::kHalf);  // the folder's, not --bf16's
  EXPECT_EQ((*load)->unquantized_dtype, at::kBFloat16);
}

TEST(QloraOptionsTest, RefusalsNameTheFlagTheKeyAndBothValues) {
  struct Case {
    configs::TrainingArguments args;
    configs::ModelConfig config;
    absl::StatusCode code;
    std::string message;
  };
  configs::ModelConfig eight_bit;
  eight_bit.quantization = configs::BnbQuantization{};
  eight_bit.quantization->load_in_8bit = true;
  configs::TrainingArguments lora;
  lora.use_lora = true;
  const std::vector<Case> cases = {
      {QloraArgs({{"bnb_4bit_quant_type", "nf4"}}), Prequantized("fp4", true, "bfloat16"),
       absl::StatusCode::kInvalidArgument,
       "--bnb_4bit_quant_type nf4 contradicts m/config.json quantization_config."
       "bnb_4bit_quant_type = \"fp4\""},
      {QloraArgs({{"bnb_4bit_use_double_quant", "true"}}), Prequantized("nf4", false, "bfloat16"),
       absl::StatusCode::kInvalidArgument, "bnb_4bit_use_double_quant = false"},
      {QloraArgs({{"bnb_4bit_compute_dtype", "bf16"}}), Prequantized("nf4", true, "float32"),
       absl::StatusCode::kInvalidArgument,
       "--bnb_4bit_compute_dtype bf16 contradicts m/config.json quantization_config."
       "bnb_4bit_compute_dtype = \"float32\""},
      {QloraArgs(), eight_bit, absl::StatusCode::kUnimplemented, "an 8-bit LLM.int8 folder"},
      {lora, Prequantized("nf4", true, "bfloat16"), absl::StatusCode::kFailedPrecondition,
       "--model_name_or_path m is a bitsandbytes 4-bit folder"},
      {configs::TrainingArguments{}, Prequantized("nf4", true, "bfloat16"),
       absl::StatusCode::kFailedPrecondition, "full fine-tuning needs the 16-bit model"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::optional<QloraLoad>> load = ResolveQloraLoad(c.args, c.config, "m");
    ASSERT_FALSE(load.ok()) << c.message;
    EXPECT_EQ(load.status().code(), c.code) << load.status();
    EXPECT_TRUE(absl::StrContains(load.status().message(), c.message)) << load.status();
  }
}

}  // namespace
}  // namespace zt::worker::train
