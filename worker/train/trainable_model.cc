#include "worker/train/trainable_model.h"

#include <filesystem>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "configs/lora_target_modules.h"
#include "configs/model_config.h"
#include "worker/model/model_folder.h"
#include "worker/train/qlora_options.h"

namespace zt::worker::train {
namespace {

std::string AdapterConfigPath(const configs::TrainingArguments& args) {
  return args.adapter_name_or_path + "/adapter_config.json";
}

absl::Status Contradiction(const std::string& flag, const std::string& flag_value,
                           const std::string& config_path, const std::string& key,
                           const std::string& key_value) {
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, " ", flag_value, " contradicts ", config_path, ": ", key, " = ", key_value,
      " (the adapter continued by --adapter_name_or_path keeps its own LoRA settings; drop --",
      flag, " or give the adapter's value)"));
}

// adapter_config.json's target_modules with PEFT's reading: a list of names (suffix match), a
// string that is "all-linear" or else a regex PEFT re.fullmatch-es against each module name.
absl::StatusOr<configs::LoraTargetModules> AdapterTargets(const io::PeftLoraConfig& config,
                                                          const std::string& config_path) {
  using Kind = configs::LoraTargetModules::Kind;
  if (config.target_modules.is_string()) {
    configs::LoraTargetModules t;
    const std::string text = config.target_modules.get<std::string>();
    if (absl::AsciiStrToLower(text) == "all-linear") {
      t.kind = Kind::kAllLinear;
      return t;
    }
    // ParseLoraTargetModules validates the regex; PEFT treats any string as one.
    absl::StatusOr<configs::LoraTargetModules> parsed =
        configs::ParseLoraTargetModules(absl::StrCat("^", text, "$"));
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config_path, ": target_modules: ", parsed.status().message()));
    }
    t.kind = Kind::kRegex;
    t.regex = text;
    return t;
  }
  absl::StatusOr<configs::LoraTargetModules> parsed =
      configs::ParseLoraTargetModules(config.target_modules.dump());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config_path, ": target_modules: ", parsed.status().message()));
  }
  return parsed;
}

// An explicit --lora_target_modules agrees when it selects the same modules of this model
// (all-linear and the full list PEFT writes for it agree).
absl::Status CheckTargetFlag(const model::Decoder& decoder, const configs::TrainingArguments& args,
                             const io::PeftLoraConfig& config,
                             const configs::LoraTargetModules& adapter_targets) {
  if (!args.IsSet("lora_target_modules")) return absl::OkStatus();
  ZT_ASSIGN_OR_RETURN(configs::LoraTargetModules flag,
                      configs::ParseLoraTargetModules(args.lora_target_modules));
  for (const std::string& module : model::LinearModuleNames(decoder)) {
    const bool by_flag = flag.Matches(module, /*is_linear=*/true);
    if (by_flag == adapter_targets.Matches(module, /*is_linear=*/true)) continue;
    return absl::InvalidArgumentError(absl::StrCat(
        "--lora_target_modules ", args.lora_target_modules, " contradicts ",
        AdapterConfigPath(args), ": target_modules = ", config.target_modules.dump(), " (module ",
        module, " is adapted by ",
        by_flag ? "the flag, not the adapter" : "the adapter, not the flag",
        "; drop --lora_target_modules to train the adapter's modules)"));
  }
  return absl::OkStatus();
}

}  // namespace

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

absl::StatusOr<io::PeftAdapter> ReadAdapterToTrain(const configs::TrainingArguments& args) {
  const std::string& dir = args.adapter_name_or_path;
  if (!std::filesystem::is_directory(dir)) {
    return absl::NotFoundError(absl::StrCat(
        "--adapter_name_or_path ", dir, ": no such folder (expected a PEFT adapter folder with "
        "adapter_config.json and adapter_model.safetensors, as save_pretrained writes)"));
  }
  absl::StatusOr<io::PeftAdapter> adapter = io::ReadPeftAdapter(dir);
  if (!adapter.ok()) {
    return absl::Status(adapter.status().code(), absl::StrCat("--adapter_name_or_path ", dir,
                                                              ": ", adapter.status().message()));
  }
  return adapter;
}

absl::StatusOr<model::LoraOptions> LoraOptionsFromAdapter(const configs::TrainingArguments& args,
                                                          const io::PeftAdapter& adapter) {
  const io::PeftLoraConfig& c = adapter.config;
  const std::string path = AdapterConfigPath(args);
  if (args.IsSet("lora_r") && args.lora_r != c.r) {
    return Contradiction("lora_r", absl::StrCat(args.lora_r), path, "r", absl::StrCat(c.r));
  }
  if (args.IsSet("lora_alpha") && static_cast<double>(args.lora_alpha) != c.lora_alpha) {
    return Contradiction("lora_alpha", absl::StrCat(args.lora_alpha), path, "lora_alpha",
                         absl::StrCat(c.lora_alpha));
  }
  if (args.IsSet("lora_dropout") && args.lora_dropout != c.lora_dropout) {
    return Contradiction("lora_dropout", absl::StrCat(args.lora_dropout), path, "lora_dropout",
                         absl::StrCat(c.lora_dropout));
  }
  if (args.IsSet("lora_bias") && args.lora_bias != c.bias) {
    return Contradiction("lora_bias", args.lora_bias, path, "bias",
                         absl::StrCat("\"", c.bias, "\""));
  }
  if (!(c.lora_dropout >= 0 && c.lora_dropout < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": lora_dropout = ", c.lora_dropout,
                                                   ", expected a probability in [0, 1)"));
  }
  model::LoraOptions lora;
  lora.r = c.r;
  lora.lora_alpha = c.lora_alpha;
  lora.lora_dropout = c.lora_dropout;
  lora.use_rslora = c.use_rslora;
  lora.init_b_zero = c.init_lora_weights;  // written back as it was read
  ZT_ASSIGN_OR_RETURN(lora.target_modules, AdapterTargets(c, path));
  return lora;
}

absl::Status AttachAdapterToTrain(model::Decoder& decoder, const configs::TrainingArguments& args,
                                  const io::PeftAdapter& adapter, const model::LoraOptions& lora) {
  if (absl::Status s = configs::CheckLoraTargetsMatch(lora.target_modules,
                                                      model::LinearModuleNames(decoder));
      !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(AdapterConfigPath(args), ": target_modules: ",
                                               s.message()));
  }
  ZT_RETURN_IF_ERROR(CheckTargetFlag(decoder, args, adapter.config, lora.target_modules));
  ZT_RETURN_IF_ERROR(model::AttachPeftAdapter(decoder, adapter, lora.dtype));
  return model::CheckAdapterMatchesTargets(decoder, lora.target_modules, adapter);
}

absl::StatusOr<TrainableModel> LoadTrainableModel(const configs::TrainingArguments& args,
                                                  bool keep_file_dtype, const at::Device& device) {
  ZT_RETURN_IF_ERROR(CheckModelFolder(args));
  // The adapter is read (and checked against the flags) before the model, to fail fast.
  std::optional<io::PeftAdapter> adapter;
  TrainableModel out;
  if (!args.adapter_name_or_path.empty()) {
    ZT_ASSIGN_OR_RETURN(adapter, ReadAdapterToTrain(args));
    ZT_ASSIGN_OR_RETURN(out.lora, LoraOptionsFromAdapter(args, *adapter));
  }
  ZT_ASSIGN_OR_RETURN(const configs::ModelConfig model_config,
                      configs::LoadModelConfig(args.model_name_or_path));
  ZT_ASSIGN_OR_RETURN(const std::optional<QloraLoad> qlora,
                      ResolveQloraLoad(args, model_config, args.model_name_or_path));
  if (qlora.has_value() && keep_file_dtype) {
    return absl::InternalError("--q_lora: a QLoRA model loads in its unquantized dtype");
  }
  const at::ScalarType dtype = keep_file_dtype    ? at::ScalarType::Undefined
                               : qlora.has_value() ? qlora->unquantized_dtype
                                                   : ComputeDtype(args);
  ZT_ASSIGN_OR_RETURN(model::Decoder decoder,
                      model::LoadModelFolder(args.model_name_or_path, dtype, /*adapter_dir=*/"",
                                             qlora.has_value() ? &qlora->four_bit : nullptr));
  out.decoder = std::make_unique<model::Decoder>(std::move(decoder));
  if (!keep_file_dtype && device != out.decoder->device()) out.decoder->To(device);
  out.use_lora = args.use_lora || adapter.has_value();
  if (adapter.has_value()) {
    out.lora.dtype = ComputeDtype(args);
    ZT_RETURN_IF_ERROR(AttachAdapterToTrain(*out.decoder, args, *adapter, out.lora));
  } else if (args.use_lora) {
    out.lora.r = args.lora_r;
    out.lora.lora_alpha = static_cast<double>(args.lora_alpha);
    out.lora.lora_dropout = args.lora_dropout;
    out.lora.dtype = ComputeDtype(args);
    ZT_ASSIGN_OR_RETURN(out.lora.target_modules,
                        configs::ParseLoraTargetModules(args.lora_target_modules));
    ZT_RETURN_IF_ERROR(
        model::ApplyLora(*out.decoder, out.lora, static_cast<uint64_t>(args.seed)));
  }
  model::SetTrainable(*out.decoder, /*train_base=*/!out.use_lora);
  out.summary = model::SummarizeParameters(*out.decoder);
  std::vector<sharding::NamedParameter> trainable;
  for (auto& [name, tensor] : out.decoder->NamedTensors()) {
    if (tensor->requires_grad()) trainable.push_back({name, *tensor});
  }
  out.groups = sharding::DecayParameterGroups(trainable);
  return out;
}

}  // namespace zt::worker::train
