#include "worker/train/trainable_model.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "configs/lora_target_modules.h"
#include "worker/model/model_folder.h"

namespace zt::worker::train {

at::ScalarType ComputeDtype(const configs::TrainingArguments& args) {
  if (args.bf16) return at::kBFloat16;
  if (args.fp16) return at::kHalf;
  return at::kFloat;
}

absl::Status CheckModelFolder(const configs::TrainingArguments& args) {
  if (args.model_name_or_path.empty()) {
    return absl::InvalidArgumentError("--model_name_or_path: required (an HF model folder)");
  }
  if (!std::filesystem::is_directory(args.model_name_or_path)) {
    return absl::NotFoundError(absl::StrCat("--model_name_or_path ", args.model_name_or_path,
                                            ": no such folder (expected an HF model folder with "
                                            "config.json and *.safetensors)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<TrainableModel> LoadTrainableModel(const configs::TrainingArguments& args,
                                                  bool keep_file_dtype) {
  ZT_RETURN_IF_ERROR(CheckModelFolder(args));
  TrainableModel out;
  ZT_ASSIGN_OR_RETURN(
      model::Decoder decoder,
      model::LoadModelFolder(args.model_name_or_path,
                             keep_file_dtype ? at::ScalarType::Undefined : ComputeDtype(args)));
  out.decoder = std::make_unique<model::Decoder>(std::move(decoder));
  out.use_lora = args.use_lora;
  if (args.use_lora) {
    out.lora.r = args.lora_r;
    out.lora.lora_alpha = static_cast<double>(args.lora_alpha);
    out.lora.lora_dropout = args.lora_dropout;
    out.lora.dtype = ComputeDtype(args);
    ZT_ASSIGN_OR_RETURN(out.lora.target_modules,
                        configs::ParseLoraTargetModules(args.lora_target_modules));
    ZT_RETURN_IF_ERROR(
        model::ApplyLora(*out.decoder, out.lora, static_cast<uint64_t>(args.seed)));
  }
  model::SetTrainable(*out.decoder, /*train_base=*/!args.use_lora);
  out.summary = model::SummarizeParameters(*out.decoder);
  std::vector<sharding::NamedParameter> trainable;
  for (auto& [name, tensor] : out.decoder->NamedTensors()) {
    if (tensor->requires_grad()) trainable.push_back({name, *tensor});
  }
  out.groups = sharding::DecayParameterGroups(trainable);
  return out;
}

}  // namespace zt::worker::train
