#include "worker/train/qlora_options.h"

#include <ATen/Parallel.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/model/model_folder.h"
#include "worker/train/trainable_model.h"

namespace zt::worker::train {
namespace {

const char* kQuantKey = "config.json quantization_config.";

absl::StatusOr<at::ScalarType> ComputeDtypeFlag(const configs::TrainingArguments& args) {
  if (args.bnb_4bit_compute_dtype.empty()) return ComputeDtype(args);
  return model::ParseDtypeFlag(args.bnb_4bit_compute_dtype, "--bnb_4bit_compute_dtype");
}

absl::Status Contradiction(const std::string& model_dir, const std::string& flag,
                           const std::string& flag_value, const std::string& key,
                           const std::string& key_value) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, " ", flag_value, " contradicts ", model_dir, "/", kQuantKey, key,
                   " = ", key_value, " (a pre-quantized folder keeps its own quantization; drop --",
                   flag, " or quantize the 16-bit model again)"));
}

// The folder's quantization_config, checked against any explicit flag.
absl::Status ApplyPrequantized(const configs::TrainingArguments& args,
                               const configs::BnbQuantization& q, const std::string& model_dir,
                               model::Load4bitOptions& out) {
  if (!q.load_in_4bit) {
    return absl::UnimplementedError(
        absl::StrCat(model_dir, "/", kQuantKey, "load_in_4bit is false",
                     q.load_in_8bit ? " (an 8-bit LLM.int8 folder)" : "",
                     ": --q_lora trains 4-bit folders only; give the 16-bit model instead"));
  }
  out.prequantized = true;
  if (args.IsSet("bnb_4bit_quant_type") && args.bnb_4bit_quant_type != q.bnb_4bit_quant_type) {
    return Contradiction(model_dir, "bnb_4bit_quant_type", args.bnb_4bit_quant_type,
                         "bnb_4bit_quant_type", absl::StrCat("\"", q.bnb_4bit_quant_type, "\""));
  }
  if (args.IsSet("bnb_4bit_use_double_quant") &&
      args.bnb_4bit_use_double_quant != q.bnb_4bit_use_double_quant) {
    return Contradiction(
        model_dir, "bnb_4bit_use_double_quant", args.bnb_4bit_use_double_quant ? "true" : "false",
        "bnb_4bit_use_double_quant", q.bnb_4bit_use_double_quant ? "true" : "false");
  }
  ZT_ASSIGN_OR_RETURN(
      const at::ScalarType folder_compute,
      model::ParseDtypeFlag(q.bnb_4bit_compute_dtype,
                            absl::StrCat(model_dir, "/", kQuantKey, "bnb_4bit_compute_dtype")));
  if (args.IsSet("bnb_4bit_compute_dtype")) {
    ZT_ASSIGN_OR_RETURN(const at::ScalarType flag, ComputeDtypeFlag(args));
    if (flag != folder_compute) {
      return Contradiction(model_dir, "bnb_4bit_compute_dtype", args.bnb_4bit_compute_dtype,
                           "bnb_4bit_compute_dtype",
                           absl::StrCat("\"", q.bnb_4bit_compute_dtype, "\""));
    }
  }
  out.compute_dtype = folder_compute;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<QloraLoad>> ResolveQloraLoad(const configs::TrainingArguments& args,
                                                          const configs::ModelConfig& config,
                                                          const std::string& model_dir) {
  if (!args.q_lora) {
    if (config.quantization.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--model_name_or_path ", model_dir, " is a bitsandbytes ",
          config.quantization->load_in_8bit ? "8" : "4", "-bit folder (", model_dir, "/", kQuantKey,
          "quant_method = \"bitsandbytes\"): ",
          args.use_lora ? "LoRA on it needs --q_lora" : "full fine-tuning needs the 16-bit model",
          " (its 16-bit weights are not in the folder)"));
    }
    return std::optional<QloraLoad>();
  }
  QloraLoad out;
  out.unquantized_dtype = args.kbit_upcast == "fp32" ? at::kFloat : ComputeDtype(args);
  out.four_bit.torch_threads = at::get_num_threads();
  if (config.quantization.has_value()) {
    ZT_RETURN_IF_ERROR(ApplyPrequantized(args, *config.quantization, model_dir, out.four_bit));
    return std::optional<QloraLoad>(out);
  }
  out.four_bit.quant_type =
      args.bnb_4bit_quant_type == "fp4" ? kernels::Quant4Type::kFp4 : kernels::Quant4Type::kNf4;
  out.four_bit.double_quant = args.bnb_4bit_use_double_quant;
  ZT_ASSIGN_OR_RETURN(out.four_bit.compute_dtype, ComputeDtypeFlag(args));
  // As transformers (dtype="auto") and `zerotune-worker quantize`: config.json's dtype, so both
  // routes quantize the same values.
  if (!config.dtype.empty()) {
    ZT_ASSIGN_OR_RETURN(out.four_bit.quantize_dtype,
                        model::ParseDtypeFlag(config.dtype, model_dir + "/config.json dtype"));
  }
  return std::optional<QloraLoad>(out);
}

}  // namespace zt::worker::train
