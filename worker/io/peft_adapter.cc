#include "worker/io/peft_adapter.h"

#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace zt::worker::io {
namespace {

using Json = nlohmann::json;

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

Json Number(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) return Json(static_cast<int64_t>(v));
  return Json(v);
}

absl::Status Unsupported(const std::string& source, const std::string& key, const Json& value) {
  return absl::UnimplementedError(absl::StrCat(source, ": ", key, " = ", value.dump(),
                                               " is not supported by zerotune's LoRA"));
}

// Keys whose non-default values change the math; each must be absent or at its default.
absl::Status CheckUnsupported(const Json& json, const std::string& source) {
  const std::pair<const char*, Json> defaults[] = {
      {"use_dora", false},          {"lora_bias", false},
      {"fan_in_fan_out", false},    {"rank_pattern", Json::object()},
      {"alpha_pattern", Json::object()}, {"modules_to_save", nullptr},
      {"layers_to_transform", nullptr},  {"bias", "none"},
      {"trainable_token_indices", nullptr}, {"layer_replication", nullptr},
      {"exclude_modules", nullptr}};
  for (const auto& [key, value] : defaults) {
    if (json.contains(key) && json[key] != value) return Unsupported(source, key, json[key]);
  }
  return absl::OkStatus();
}

}  // namespace

Json PeftConfigJson(const PeftLoraConfig& c) {
  Json j = {
      {"alora_invocation_tokens", nullptr}, {"alpha_pattern", Json::object()},
      {"arrow_config", nullptr}, {"auto_mapping", nullptr},
      {"base_model_name_or_path", c.base_model_name_or_path}, {"bias", c.bias},
      {"corda_config", nullptr}, {"ensure_weight_tying", false}, {"eva_config", nullptr},
      {"exclude_modules", nullptr}, {"fan_in_fan_out", false}, {"inference_mode", true},
      {"init_lora_weights", c.init_lora_weights}, {"kasa_config", nullptr},
      {"layer_replication", nullptr}, {"layers_pattern", nullptr},
      {"layers_to_transform", nullptr}, {"loftq_config", Json::object()},
      {"lora_alpha", Number(c.lora_alpha)}, {"lora_bias", false},
      {"lora_dropout", c.lora_dropout}, {"lora_ga_config", nullptr},
      {"megatron_config", nullptr}, {"megatron_core", "megatron.core"},
      {"modules_to_save", nullptr}, {"monteclora_config", nullptr}, {"peft_type", "LORA"},
      {"peft_version", kPeftFormatVersion}, {"qalora_group_size", 16}, {"r", c.r},
      {"rank_pattern", Json::object()}, {"revision", nullptr},
      {"target_modules", c.target_modules}, {"target_parameters", nullptr},
      {"task_type", c.task_type}, {"trainable_token_indices", nullptr},
      {"use_bdlora", nullptr}, {"use_dora", false}, {"use_qalora", false},
      {"use_rslora", c.use_rslora}, {"velora_config", nullptr}};
  return j;
}

absl::StatusOr<PeftLoraConfig> ParsePeftConfig(const Json& json, const std::string& source) {
  if (!json.is_object() || json.value("peft_type", "") != "LORA") {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": peft_type = ", json.is_object() && json.contains("peft_type")
                                      ? json["peft_type"].dump() : "(missing)",
        ", expected \"LORA\""));
  }
  ZT_RETURN_IF_ERROR(CheckUnsupported(json, source));
  PeftLoraConfig c;
  const Json& r = json.value("r", Json());
  const Json& alpha = json.value("lora_alpha", Json());
  if (!r.is_number_integer() || r.get<int64_t>() <= 0 || !alpha.is_number()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": r = ", r.dump(), ", lora_alpha = ",
                                                   alpha.dump(), ", expected integer r > 0 and a number"));
  }
  c.r = r.get<int64_t>();
  c.lora_alpha = alpha.get<double>();
  const Json& targets = json.value("target_modules", Json());
  if (!targets.is_string() && !targets.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": target_modules = ", targets.dump(), ", expected a list of names or a regex"));
  }
  c.target_modules = targets;
  const Json& dropout = json.value("lora_dropout", Json(0.0));
  c.lora_dropout = dropout.is_number() ? dropout.get<double>() : 0.0;
  c.use_rslora = json.value("use_rslora", false);
  c.task_type = json.value("task_type", Json("")).is_string() ? json.value("task_type", "") : "";
  const Json& base = json.value("base_model_name_or_path", Json());
  if (base.is_string()) c.base_model_name_or_path = base.get<std::string>();
  const Json& init = json.value("init_lora_weights", Json(true));
  c.init_lora_weights = init.is_boolean() ? init.get<bool>() : true;
  return c;
}

absl::StatusOr<PeftAdapter> ReadPeftAdapter(const std::string& dir) {
  const std::string config_path = dir + "/adapter_config.json";
  std::ifstream in(config_path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        "cannot read ", config_path, " (hint: expected the folder PEFT's save_pretrained wrote)"));
  }
  std::stringstream text;
  text << in.rdbuf();
  Json json = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(config_path, ": not valid JSON"));
  }
  PeftAdapter adapter;
  ZT_ASSIGN_OR_RETURN(adapter.config, ParsePeftConfig(json, config_path));
  const std::string weights = dir + "/adapter_model.safetensors";
  if (!Exists(weights) && Exists(dir + "/adapter_model.bin")) {
    return absl::NotFoundError(absl::StrCat(
        weights, " is missing and adapter_model.bin (pickle) is not read; hint: re-save with "
                 "save_pretrained(..., safe_serialization=True)"));
  }
  ZT_ASSIGN_OR_RETURN(adapter.tensors, SafetensorsFile::Open(weights));
  return adapter;
}

absl::Status WritePeftAdapter(const std::string& dir, const PeftLoraConfig& config,
                              const NamedTensors& tensors) {
  ::mkdir(dir.c_str(), 0755);
  const std::string config_path = dir + "/adapter_config.json";
  std::ofstream out(config_path, std::ios::trunc);
  out << PeftConfigJson(config).dump(2);
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", config_path));
  return WriteSafetensors(dir + "/adapter_model.safetensors", tensors);
}

}  // namespace zt::worker::io
