#include "configs/training_arguments.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "configs/json_reader.h"
#include "configs/lora_target_modules.h"

namespace zt::configs {
namespace {

using TA = TrainingArguments;

std::vector<ArgumentSpec> MakeSpecs() {
  return {
      {"model_name_or_path", "HF model folder (config.json, *.safetensors, tokenizer)",
       &TA::model_name_or_path},
      {"data_path", "training data: JSON/JSONL (conversations, messages, alpaca or text)",
       &TA::data_path},
      {"eval_data_path", "evaluation data, same formats as --data_path", &TA::eval_data_path},
      {"output_dir", "where checkpoints, adapters and metrics are written", &TA::output_dir},
      {"deepspeed", "DeepSpeed JSON config (ds_config) file", &TA::deepspeed},
      {"model_max_length", "maximum sequence length in tokens; longer samples are truncated",
       &TA::model_max_length},
      {"per_device_train_batch_size", "micro batch per GPU (ds: train_micro_batch_size_per_gpu)",
       &TA::per_device_train_batch_size},
      {"per_device_eval_batch_size", "evaluation batch per GPU", &TA::per_device_eval_batch_size},
      {"gradient_accumulation_steps", "micro batches per optimizer step",
       &TA::gradient_accumulation_steps},
      {"num_train_epochs", "passes over the training data (fractions allowed)",
       &TA::num_train_epochs},
      {"max_steps", "optimizer steps to run; > 0 overrides --num_train_epochs", &TA::max_steps},
      {"learning_rate", "peak learning rate (ds: optimizer.params.lr)", &TA::learning_rate},
      {"weight_decay", "decoupled weight decay (ds: optimizer.params.weight_decay)",
       &TA::weight_decay},
      {"adam_beta1", "Adam beta1 (ds: optimizer.params.betas[0])", &TA::adam_beta1},
      {"adam_beta2", "Adam beta2 (ds: optimizer.params.betas[1])", &TA::adam_beta2},
      {"adam_epsilon", "Adam epsilon (ds: optimizer.params.eps)", &TA::adam_epsilon},
      {"max_grad_norm", "global gradient-norm clip, 0 disables (ds: gradient_clipping)",
       &TA::max_grad_norm},
      {"optim", "optimizer when the ds_config has none", &TA::optim,
       "adamw_torch|adamw_torch_fused|adamw_hf|adamw_8bit|adamw_bnb_8bit|paged_adamw_8bit|paged_adamw_32bit"},
      {"lr_scheduler_type", "learning-rate schedule when the ds_config has no scheduler",
       &TA::lr_scheduler_type,
       "linear|cosine|cosine_with_restarts|polynomial|constant|constant_with_warmup|inverse_sqrt"},
      {"warmup_ratio", "fraction of the steps spent warming up", &TA::warmup_ratio},
      {"warmup_steps", "warm-up steps (>= 1) or, below 1, a ratio as in transformers 5; "
       "> 0 overrides --warmup_ratio", &TA::warmup_steps},
      {"loss_normalization",
       "token: summed token losses / the step's tokens over all ranks (HF); per_micro_batch: "
       "each micro-batch's mean / gradient_accumulation_steps (DeepSpeed)",
       &TA::loss_normalization, "token|per_micro_batch"},
      {"bf16", "train in bfloat16 (ds: bf16.enabled)", &TA::bf16},
      {"fp16", "train in float16 with loss scaling (ds: fp16.enabled)", &TA::fp16},
      {"gradient_checkpointing", "recompute decoder-layer activations in backward",
       &TA::gradient_checkpointing},
      {"use_cpu", "train on the CPU even when CUDA devices are visible (else cuda:LOCAL_RANK)",
       &TA::use_cpu},
      {"use_lora", "train LoRA adapters instead of all weights", &TA::use_lora},
      {"q_lora", "QLoRA: 4-bit NF4 base weights (needs --use_lora)", &TA::q_lora},
      {"bnb_4bit_quant_type", "QLoRA: 4-bit code book (BitsAndBytesConfig's)",
       &TA::bnb_4bit_quant_type, "nf4|fp4"},
      {"bnb_4bit_use_double_quant", "QLoRA: quantize the absmax values again",
       &TA::bnb_4bit_use_double_quant},
      {"bnb_4bit_compute_dtype", "QLoRA: the 4-bit matmuls' dtype (default: --bf16/--fp16, else fp32)",
       &TA::bnb_4bit_compute_dtype},
      {"kbit_upcast", "QLoRA: fp32 casts the non-quantized parameters to fp32 as PEFT's "
       "prepare_model_for_kbit_training; none keeps the compute dtype",
       &TA::kbit_upcast, "none|fp32"},
      {"lora_r", "LoRA rank", &TA::lora_r},
      {"lora_alpha", "LoRA alpha (scale = alpha / r)", &TA::lora_alpha},
      {"lora_dropout", "dropout on the LoRA input", &TA::lora_dropout},
      {"lora_target_modules", "modules to adapt: a,b,c, a JSON list, a regex or all-linear",
       &TA::lora_target_modules},
      {"lora_bias", "which biases train with LoRA", &TA::lora_bias, "none|all|lora_only"},
      {"lora_weight_path", "refused: use --adapter_name_or_path (Qwen finetune.py's name, unread there too)",
       &TA::lora_weight_path},
      {"adapter_name_or_path",
       "PEFT adapter folder (adapter_config.json, adapter_model.safetensors) to continue "
       "training; implies --use_lora, its adapter_config.json sets r, alpha, dropout and targets",
       &TA::adapter_name_or_path},
      {"loss_mask", "which tokens train: assistant replies, qwen (finetune.py's) or all",
       &TA::loss_mask, "assistant|qwen|all"},
      {"template", "chat template: qwen2, qwen2.5, qwen3, llama3 or alpaca (default: recognise)",
       &TA::template_name},
      {"system", "system prompt replacing the template's default", &TA::system},
      {"seed", "random seed (initialisation, data order, dropout)", &TA::seed},
      {"logging_steps", "optimizer steps between metric records", &TA::logging_steps},
      {"eval_steps", "optimizer steps between evaluations on --eval_data_path; 0: logging_steps",
       &TA::eval_steps},
      {"early_stopping_patience",
       "stop after this many evaluations without a lower eval loss; 0 disables",
       &TA::early_stopping_patience},
      {"save_strategy", "when to save checkpoints", &TA::save_strategy, "no|steps|epoch"},
      {"save_steps", "optimizer steps between checkpoints", &TA::save_steps},
      {"save_total_limit", "checkpoints to keep, oldest deleted first; 0 keeps all",
       &TA::save_total_limit},
      {"save_on_each_node", "write checkpoints on every node (node-local disks)",
       &TA::save_on_each_node},
      {"resume_from_checkpoint",
       "auto: the latest complete checkpoint in output_dir, if any; none; or a checkpoint folder",
       &TA::resume_from_checkpoint},
      {"dataloader_num_workers", "data-loading threads per rank", &TA::dataloader_num_workers},
      {"report_to", "extra metric sinks; zerotune always writes metrics.jsonl", &TA::report_to},
  };
}

absl::Status ArgumentError(absl::string_view name, absl::string_view text,
                           absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", name, ": expected ", expected, ", got \"", text, "\""));
}

bool ParseBool(absl::string_view text, bool& out) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "y" || lower == "t") {
    out = true;
    return true;
  }
  if (lower == "false" || lower == "0" || lower == "no" || lower == "n" || lower == "f") {
    out = false;
    return true;
  }
  return false;
}

bool ParseInt(absl::string_view text, int64_t& out) {
  if (absl::SimpleAtoi(text, &out)) return true;
  double d = 0;  // "2e3" and "8.0" are integral
  if (!absl::SimpleAtod(text, &d) || !std::isfinite(d) || d != std::floor(d) ||
      std::fabs(d) > 9e18) {
    return false;
  }
  out = static_cast<int64_t>(d);
  return true;
}

}  // namespace

ArgumentType ArgumentSpec::type() const {
  switch (member.index()) {
    case 0: return ArgumentType::kBool;
    case 1: return ArgumentType::kInt;
    case 2: return ArgumentType::kFloat;
    default: return ArgumentType::kString;
  }
}

const std::vector<ArgumentSpec>& TrainingArgumentSpecs() {
  static const std::vector<ArgumentSpec>* specs = new std::vector<ArgumentSpec>(MakeSpecs());
  return *specs;
}

const ArgumentSpec* FindArgumentSpec(absl::string_view name) {
  for (const ArgumentSpec& spec : TrainingArgumentSpecs()) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

std::string ArgumentValueText(const TrainingArguments& args, const ArgumentSpec& spec) {
  return std::visit(
      [&](auto member) -> std::string {
        const auto& value = args.*member;
        using V = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<V, bool>) {
          return value ? "true" : "false";
        } else if constexpr (std::is_same_v<V, std::string>) {
          return value;
        } else {
          return absl::StrCat(value);
        }
      },
      spec.member);
}

absl::Status SetArgument(TrainingArguments& args, absl::string_view name, absl::string_view text) {
  const ArgumentSpec* spec = FindArgumentSpec(name);
  if (spec == nullptr) {
    std::vector<std::string> names;
    for (const ArgumentSpec& s : TrainingArgumentSpecs()) names.push_back(s.name);
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": unknown training argument", DidYouMean(name, names)));
  }
  absl::Status status = std::visit(
      [&](auto member) -> absl::Status {
        auto& value = args.*member;
        using V = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<V, bool>) {
          if (!ParseBool(text, value)) return ArgumentError(name, text, "true or false");
        } else if constexpr (std::is_same_v<V, int64_t>) {
          if (!ParseInt(text, value)) return ArgumentError(name, text, "an integer");
        } else if constexpr (std::is_same_v<V, double>) {
          if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) {
            return ArgumentError(name, text, "a finite number");
          }
        } else {
          if (*spec->choices != '\0') {
            std::vector<std::string> choices = absl::StrSplit(spec->choices, '|');
            if (std::find(choices.begin(), choices.end(), text) == choices.end()) {
              return ArgumentError(name, text,
                                   absl::StrCat("one of ", absl::StrJoin(choices, ", ")));
            }
          }
          value = std::string(text);
        }
        return absl::OkStatus();
      },
      spec->member);
  if (!status.ok()) return status;
  args.explicitly_set.insert(spec->name);
  // PEFT's from_pretrained trains a LoRA model; an explicit --use_lora keeps its own value
  // (false is a validation error), in either order.
  if (name == "adapter_name_or_path" && !args.adapter_name_or_path.empty() &&
      !args.IsSet("use_lora")) {
    args.use_lora = true;
  }
  return absl::OkStatus();
}

absl::Status SetArgumentsFromJson(TrainingArguments& args, const nlohmann::json& object,
                                  absl::string_view source) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": training arguments must be a JSON object, got ", object.dump()));
  }
  for (const auto& [name, value] : object.items()) {
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_boolean() || value.is_number()) {
      text = value.is_number_float() ? absl::StrCat(value.get<double>()) : value.dump();
    } else if (value.is_array() && name == "lora_target_modules") {
      text = value.dump();
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": ", name, ": expected a string, number or boolean, got ", value.dump()));
    }
    absl::Status status = SetArgument(args, name, text);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

nlohmann::json TrainingArgumentsToJson(const TrainingArguments& args) {
  nlohmann::json out = nlohmann::json::object();
  for (const ArgumentSpec& spec : TrainingArgumentSpecs()) {
    std::visit([&](auto member) { out[spec.name] = args.*member; }, spec.member);
  }
  return out;
}

std::vector<std::string> ExplicitArgumentFlags(const TrainingArguments& args) {
  std::vector<std::string> flags;
  for (const ArgumentSpec& spec : TrainingArgumentSpecs()) {
    if (!args.IsSet(spec.name)) continue;
    flags.push_back(absl::StrCat("--", spec.name));
    flags.push_back(ArgumentValueText(args, spec));
  }
  return flags;
}

absl::StatusOr<TrainingArguments> ReadJobFile(const std::string& path) {
  absl::StatusOr<nlohmann::json> json = ReadTolerantJsonFile(path);
  if (!json.ok()) return json.status();
  TrainingArguments args;
  absl::Status status = SetArgumentsFromJson(args, *json, path);
  if (!status.ok()) return status;
  return args;
}

void ValidateTrainingArguments(const TrainingArguments& args, Diagnostics& diag) {
  auto positive = [&](const char* name, int64_t value) {
    if (value <= 0) diag.Error(absl::StrCat("--", name), absl::StrCat("must be > 0, got ", value));
  };
  positive("per_device_train_batch_size", args.per_device_train_batch_size);
  positive("per_device_eval_batch_size", args.per_device_eval_batch_size);
  positive("gradient_accumulation_steps", args.gradient_accumulation_steps);
  positive("model_max_length", args.model_max_length);
  positive("lora_r", args.lora_r);
  positive("logging_steps", args.logging_steps);
  if (args.eval_steps < 0) diag.Error("--eval_steps", absl::StrCat("must be >= 0, got ", args.eval_steps));
  if (args.early_stopping_patience < 0) {
    diag.Error("--early_stopping_patience",
               absl::StrCat("must be >= 0, got ", args.early_stopping_patience));
  }
  if (args.learning_rate < 0) {
    diag.Error("--learning_rate", absl::StrCat("must be >= 0, got ", args.learning_rate));
  }
  if (args.lora_dropout < 0 || args.lora_dropout >= 1) {
    diag.Error("--lora_dropout", absl::StrCat("must be in [0, 1), got ", args.lora_dropout));
  }
  if (args.warmup_ratio < 0 || args.warmup_ratio > 1) {
    diag.Error("--warmup_ratio", absl::StrCat("must be in [0, 1], got ", args.warmup_ratio));
  }
  for (auto [name, beta] : {std::pair{"--adam_beta1", args.adam_beta1},
                            std::pair{"--adam_beta2", args.adam_beta2}}) {
    if (beta < 0 || beta >= 1) diag.Error(name, absl::StrCat("must be in [0, 1), got ", beta));
  }
  if (args.warmup_steps < 0) {
    diag.Error("--warmup_steps", absl::StrCat("must be >= 0, got ", args.warmup_steps));
  }
  if (args.max_grad_norm < 0) {
    diag.Error("--max_grad_norm", absl::StrCat("must be >= 0, got ", args.max_grad_norm));
  }
  if (args.bf16 && args.fp16) {
    diag.Error("--bf16", "--bf16 and --fp16 cannot both be set");
  }
  if (args.q_lora && !args.use_lora) {
    diag.Error("--q_lora", "needs --use_lora (QLoRA trains LoRA adapters on a 4-bit base)");
  }
  if (!args.bnb_4bit_compute_dtype.empty()) {
    static const std::set<std::string> kDtypes = {"bf16", "fp16", "fp32", "bfloat16",
                                                  "float16", "float32"};
    if (kDtypes.count(args.bnb_4bit_compute_dtype) == 0) {
      diag.Error("--bnb_4bit_compute_dtype",
                 absl::StrCat("\"", args.bnb_4bit_compute_dtype,
                              "\", expected bf16, fp16 or fp32 (or bfloat16, float16, float32)"));
    }
  }
  if (!args.q_lora) {
    for (const char* flag : {"bnb_4bit_quant_type", "bnb_4bit_use_double_quant",
                             "bnb_4bit_compute_dtype", "kbit_upcast"}) {
      if (args.IsSet(flag)) {
        diag.Error(absl::StrCat("--", flag), "applies to QLoRA only; --q_lora is not set");
      }
    }
  }
  if (!args.adapter_name_or_path.empty() && !args.use_lora) {
    diag.Error("--use_lora", absl::StrCat("false contradicts --adapter_name_or_path ",
                                          args.adapter_name_or_path,
                                          ", which continues training that LoRA adapter"));
  }
  if (!args.lora_weight_path.empty()) {
    // Accepted (Qwen's finetune.py declares it) but never read by any trainer: refusing it beats
    // silently starting from fresh adapters.
    diag.Error("--lora_weight_path",
               absl::StrCat(args.lora_weight_path, ": not read by this trainer; pass the PEFT "
                            "adapter folder as --adapter_name_or_path to continue training it"));
  }
  absl::StatusOr<LoraTargetModules> targets = ParseLoraTargetModules(args.lora_target_modules);
  if (!targets.ok()) diag.Error("--lora_target_modules", targets.status().message());
}

}  // namespace zt::configs
