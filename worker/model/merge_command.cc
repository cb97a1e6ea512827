#include "worker/model/merge_command.h"

#include <CLI/CLI.hpp>

#include <ATen/Parallel.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "configs/model_config.h"
#include "worker/command_status.h"
#include "worker/io/hf_export.h"
#include "worker/io/sharded_safetensors.h"
#include "worker/model/lora_model.h"
#include "worker/model/model_folder.h"
#include "worker/model/model_presets.h"

namespace zt::worker::model {
namespace {

absl::StatusOr<at::ScalarType> OutputDtype(const std::string& flag, const nlohmann::json& config) {
  if (flag != "auto") return ParseDtypeFlag(flag, "--dtype");
  for (const char* key : {"dtype", "torch_dtype"}) {
    if (config.contains(key) && config[key].is_string()) {
      return ParseDtypeFlag(config[key].get<std::string>(), std::string("config.json ") + key);
    }
  }
  return at::kFloat;
}

// A pre-quantized base (config.json quantization_config, docs/quantize.md): its options, or
// nullopt for a 16-bit base. Only 4-bit bitsandbytes folders can be dequantized here.
absl::StatusOr<std::optional<Load4bitOptions>> PrequantizedOptions(const std::string& base,
                                                                   const nlohmann::json& json) {
  ZT_ASSIGN_OR_RETURN(configs::ModelConfig config,
                      configs::ParseModelConfig(json, base + "/config.json"));
  if (!config.quantization.has_value()) return std::optional<Load4bitOptions>();
  const configs::BnbQuantization& q = *config.quantization;
  if (!q.load_in_4bit) {
    return absl::UnimplementedError(absl::StrCat(
        "--base ", base, ": config.json quantization_config.load_in_4bit is false",
        q.load_in_8bit ? " (an 8-bit LLM.int8 folder)" : "",
        ", expected a 16-bit folder or a bitsandbytes 4-bit (nf4/fp4) folder"));
  }
  Load4bitOptions options;
  options.prequantized = true;
  ZT_ASSIGN_OR_RETURN(
      options.compute_dtype,
      ParseDtypeFlag(q.bnb_4bit_compute_dtype,
                     base + "/config.json quantization_config.bnb_4bit_compute_dtype"));
  return std::optional<Load4bitOptions>(options);
}

// Replaces every frozen 4-bit base by its dense weight: bitsandbytes' dequantize_4bit to the
// quant state's dtype (what transformers' dequantize() and PEFT's Linear4bit.merge start
// from), then cast to `dtype`, releasing the packed storage. Returns how many it replaced.
size_t DequantizeFrozen4bitBases(Decoder& decoder, at::ScalarType dtype) {
  size_t replaced = 0;
  for (DecoderLayerWeights& layer : decoder.layers()) {
    for (auto& [name, linear] : layer.Linears()) {
      if (!linear->base4bit.has_value()) continue;
      const Packed4bitWeight& packed = linear->base4bit->weight;
      linear->weight = DequantizePacked4bit(packed, packed.dtype).to(dtype);
      linear->base4bit.reset();
      ++replaced;
    }
  }
  return replaced;
}

}  // namespace

absl::StatusOr<std::string> RunMerge(const MergeRequest& request) {
  ZT_ASSIGN_OR_RETURN(uint64_t shard_bytes,
                      io::ParseByteSize(request.max_shard_size, "--max_shard_size"));
  ZT_ASSIGN_OR_RETURN(nlohmann::json config, io::ReadConfigJson(request.base));
  ZT_ASSIGN_OR_RETURN(at::ScalarType dtype, OutputDtype(request.dtype, config));
  ZT_ASSIGN_OR_RETURN(std::optional<Load4bitOptions> four_bit,
                      PrequantizedOptions(request.base, config));
  absl::StatusOr<Decoder> loaded = LoadModelFolder(request.base, dtype, request.adapter,
                                                   four_bit.has_value() ? &*four_bit : nullptr);
  if (!loaded.ok()) {
    // The adapter's own errors name its file; say which base it was checked against.
    return absl::Status(loaded.status().code(),
                        absl::StrCat("--adapter ", request.adapter, " on --base ", request.base,
                                     ": ", loaded.status().message()));
  }
  Decoder decoder = std::move(*loaded);
  const size_t merged = LoraModuleNames(decoder).size();
  // As transformers' dequantize(dtype) then PEFT's merge: the dense weight is cast to the
  // output dtype first, so the delta is added in it (PEFT's Linear4bit.merge gives the same
  // bf16 weight before it re-quantizes: tests/golden/merge_goldens.py).
  const size_t dequantized = DequantizeFrozen4bitBases(decoder, dtype);
  MergeLora(decoder);
  // A 16-bit folder now: transformers' dequantize() drops the quantization_config.
  config.erase("quantization_config");
  config["torch_dtype"] = HfDtypeName(dtype);
  config["dtype"] = HfDtypeName(dtype);
  ZT_RETURN_IF_ERROR(io::WriteHfModelFolder(request.output, config, decoder.BaseStateDict(),
                                            shard_bytes, request.base));
  return absl::StrFormat("merged %d adapted linears of %s into %s (%s%s)", merged, request.adapter,
                         request.output, HfDtypeName(dtype),
                         dequantized > 0
                             ? absl::StrFormat(", %d 4-bit linears dequantized", dequantized)
                             : "");
}

void AddMergeCommand(CLI::App& app) {
  auto request = std::make_shared<MergeRequest>();
  CLI::App* cmd = app.add_subcommand("merge", "Merge a PEFT LoRA adapter into its base model");
  cmd->add_option("--base", request->base, "HF base model folder: 16-bit or bitsandbytes 4-bit (pre-quantized)")->required();
  cmd->add_option("--adapter", request->adapter, "PEFT adapter folder")->required();
  cmd->add_option("--out,--output", request->output, "Output folder")->required();
  cmd->add_option("--max_shard_size", request->max_shard_size, "Shard size, e.g. 2GB (default 5GB)");
  cmd->add_option("--dtype", request->dtype, "auto (default: the base's), fp32, bf16 or fp16");
  cmd->callback([request]() {
    // A standalone tool: use the host (LibTorch's default is one intra-op thread).
    at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    auto line = RunMerge(*request);
    ExitIfError("merge", line.status());
    std::cout << *line << "\n";
  });
}

}  // namespace zt::worker::model
