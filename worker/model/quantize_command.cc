#include "worker/model/quantize_command.h"

#include <ATen/Parallel.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "kernels/double_quant.h"
#include "kernels/nf4.h"
#include "worker/command_status.h"
#include "worker/io/hf_export.h"
#include "worker/io/sharded_safetensors.h"
#include "worker/model/model_folder.h"
#include "worker/model/model_presets.h"
#include "worker/model/quant_state.h"

namespace zt::worker::model {
namespace {

namespace fs = std::filesystem;

struct QuantizeSettings {
  kernels::Quant4Type type = kernels::Quant4Type::kNf4;
  bool double_quant = false;
  int64_t blocksize = 64;
  int torch_threads = 1;
};

// Linear weights transformers replaces with Linear4bit: 2-D `<module>.weight` tensors, minus the
// output head (get_keys_to_not_convert) and the embeddings (nn.Embedding, never Linear).
bool IsQuantizedLinear(const std::string& name, const at::Tensor& tensor) {
  if (!absl::EndsWith(name, ".weight") || tensor.dim() != 2 || !tensor.is_floating_point()) {
    return false;
  }
  const std::string module = name.substr(0, name.size() - 7);
  const std::string leaf = module.substr(module.rfind('.') + 1);
  return leaf != "lm_head" && !absl::StrContains(leaf, "embed") && leaf != "wte";
}

kernels::FloatFormat FormatOf(at::ScalarType dtype) {
  return dtype == at::kBFloat16 ? kernels::FloatFormat::kBF16
         : dtype == at::kHalf   ? kernels::FloatFormat::kF16
                                : kernels::FloatFormat::kF32;
}

at::Tensor BytesTensor(const std::string& bytes) {
  at::Tensor t = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
  std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

at::Tensor FloatsTensor(const float* values, int64_t n) {
  at::Tensor t = at::empty({n}, at::kFloat);
  std::memcpy(t.data_ptr(), values, n * sizeof(float));
  return t;
}

// Appends `name`'s quantized tensors (Linear4bit._save_to_state_dict's names) to `out`.
void AppendQuantized(const std::string& name, const at::Tensor& weight, const QuantizeSettings& s,
                     io::NamedTensors& out) {
  const at::Tensor w = weight.contiguous();
  const int64_t n = w.numel();
  const int64_t blocks = kernels::Quant4Blocks(n, s.blocksize);
  at::Tensor packed = at::empty({kernels::Quant4PackedBytes(n), 1}, at::kByte);
  at::Tensor absmax = at::empty({blocks}, at::kFloat);
  kernels::Quantize4bitCpu(w.data_ptr(), FormatOf(w.scalar_type()), n, s.blocksize, s.type,
                           packed.data_ptr<uint8_t>(), absmax.data_ptr<float>());
  QuantStateFields fields{kernels::Quant4TypeName(s.type),
                          s.blocksize,
                          HfDtypeName(w.scalar_type()),
                          {w.size(0), w.size(1)},
                          std::nullopt};
  out.emplace_back(name, packed);
  if (s.double_quant) {
    at::Tensor codes = at::empty({blocks}, at::kByte);
    at::Tensor nested =
        at::empty({kernels::Quant4Blocks(blocks, kernels::kNestedBlocksize)}, at::kFloat);
    const kernels::DoubleQuantized dq = kernels::DoubleQuantizeAbsmaxCpu(
        absmax.data_ptr<float>(), blocks, codes.data_ptr<uint8_t>(), nested.data_ptr<float>(),
        s.torch_threads);
    fields.nested_offset = dq.offset;
    out.emplace_back(name + ".absmax", codes);
    out.emplace_back(name + ".nested_absmax", nested);
    out.emplace_back(name + ".nested_quant_map", FloatsTensor(kernels::DynamicMap8bit(), 256));
  } else {
    out.emplace_back(name + ".absmax", absmax);
  }
  out.emplace_back(name + ".quant_map", FloatsTensor(kernels::Quant4CodeBook(s.type), 16));
  out.emplace_back(absl::StrCat(name, ".quant_state.bitsandbytes__", fields.quant_type),
                   BytesTensor(QuantStateJson(fields)));
}

// The dtype transformers loads the base in (dtype="auto": config.json's), or none.
absl::StatusOr<std::optional<at::ScalarType>> LoadDtype(const nlohmann::json& config) {
  for (const char* key : {"dtype", "torch_dtype"}) {
    if (config.contains(key) && config[key].is_string()) {
      ZT_ASSIGN_OR_RETURN(at::ScalarType dtype, ParseDtypeFlag(config[key].get<std::string>(),
                                                               std::string("config.json ") + key));
      return std::optional<at::ScalarType>(dtype);
    }
  }
  return std::optional<at::ScalarType>();
}

absl::StatusOr<QuantizeSettings> ParseSettings(const QuantizeRequest& r) {
  QuantizeSettings s;
  if (r.quant_type != "nf4" && r.quant_type != "fp4") {
    return absl::InvalidArgumentError(
        absl::StrCat("--quant_type \"", r.quant_type, "\", expected nf4 or fp4"));
  }
  s.type = r.quant_type == "nf4" ? kernels::Quant4Type::kNf4 : kernels::Quant4Type::kFp4;
  if (!kernels::IsQuant4Blocksize(r.blocksize)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--blocksize ", r.blocksize, ", expected 32, 64, 128, 256, 512, 1024, 2048 or 4096"));
  }
  s.blocksize = r.blocksize;
  s.double_quant = r.double_quant;
  if (r.torch_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--torch_threads ", r.torch_threads, ", expected 0 (default) or more"));
  }
  s.torch_threads = r.torch_threads > 0 ? r.torch_threads : at::get_num_threads();
  return s;
}

absl::Status CheckOutput(const std::string& out) {
  std::error_code ec;
  if (fs::exists(out, ec) && !(fs::is_directory(out, ec) && fs::is_empty(out, ec))) {
    return absl::AlreadyExistsError(
        absl::StrCat("--out ", out, " exists and is not an empty folder; choose a new one"));
  }
  return absl::OkStatus();
}

// Writes into `<out>.tmp-quantize-<pid>` beside --out and renames it into place, so --out is
// either absent or complete.
absl::Status WriteAtomically(const std::string& out, const nlohmann::json& config,
                             const io::NamedTensors& tensors, uint64_t shard_bytes,
                             const std::string& tokenizer_dir) {
  const fs::path target = fs::absolute(fs::path(out)).lexically_normal();
  const fs::path staging = target.parent_path() / absl::StrCat(".", target.filename().string(),
                                                               ".tmp-quantize-", ::getpid());
  std::error_code ec;
  fs::remove_all(staging, ec);
  absl::Status written =
      io::WriteHfModelFolder(staging.string(), config, tensors, shard_bytes, tokenizer_dir);
  if (written.ok()) {
    fs::remove(target, ec);  // an empty folder (CheckOutput refused anything else)
    fs::rename(staging, target, ec);
    if (ec) {
      written = absl::InternalError(absl::StrCat("cannot rename ", staging.string(), " to ",
                                                 target.string(), ": ", ec.message()));
    }
  }
  if (!written.ok()) fs::remove_all(staging, ec);
  return written;
}

}  // namespace

absl::StatusOr<std::string> RunQuantize(const QuantizeRequest& request) {
  ZT_ASSIGN_OR_RETURN(QuantizeSettings settings, ParseSettings(request));
  ZT_ASSIGN_OR_RETURN(at::ScalarType compute,
                      ParseDtypeFlag(request.compute_dtype, "--compute_dtype"));
  ZT_ASSIGN_OR_RETURN(uint64_t shard_bytes,
                      io::ParseByteSize(request.max_shard_size, "--max_shard_size"));
  ZT_RETURN_IF_ERROR(CheckOutput(request.out));
  ZT_ASSIGN_OR_RETURN(nlohmann::json config, io::ReadConfigJson(request.model));
  if (config.contains("quantization_config")) {
    return absl::FailedPreconditionError(absl::StrCat(
        request.model, "/config.json already has a quantization_config; quantize the 16-bit base"));
  }
  ZT_ASSIGN_OR_RETURN(std::optional<at::ScalarType> dtype, LoadDtype(config));
  ZT_ASSIGN_OR_RETURN(io::ShardedSafetensors weights, io::ShardedSafetensors::Open(request.model));
  io::NamedTensors tensors;
  int quantized = 0;
  for (const std::string& name : weights.Names()) {
    ZT_ASSIGN_OR_RETURN(at::Tensor tensor, weights.Get(name));
    if (dtype.has_value() && tensor.is_floating_point()) tensor = tensor.to(*dtype);
    if (IsQuantizedLinear(name, tensor)) {
      AppendQuantized(name, tensor, settings, tensors);
      ++quantized;
    } else {
      tensors.emplace_back(name, tensor);
    }
  }
  if (quantized == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--model ", request.model, ": no Linear weight to quantize"));
  }
  config["quantization_config"] =
      BitsAndBytes4bitConfig(request.quant_type, settings.double_quant, HfDtypeName(compute));
  ZT_RETURN_IF_ERROR(WriteAtomically(request.out, config, tensors, shard_bytes, request.model));
  return absl::StrFormat("quantized %d linears of %s into %s (%s, blocksize %d%s)", quantized,
                         request.model, request.out, request.quant_type, settings.blocksize,
                         settings.double_quant ? ", double quant" : "");
}

void AddQuantizeCommand(CLI::App& app) {
  auto request = std::make_shared<QuantizeRequest>();
  CLI::App* cmd = app.add_subcommand(
      "quantize", "Write a bitsandbytes 4-bit (NF4/FP4) HF folder, as transformers saves it");
  cmd->add_option("--model", request->model, "HF model folder (16- or 32-bit)")->required();
  cmd->add_option("--out", request->out, "Output folder (absent or empty)")->required();
  cmd->add_option("--quant_type", request->quant_type, "nf4 (default) or fp4");
  cmd->add_flag("--double_quant", request->double_quant,
                "Quantize the absmax values too (bnb_4bit_use_double_quant)");
  cmd->add_option("--blocksize", request->blocksize, "Elements per absmax, 32..4096 (default 64)");
  cmd->add_option("--compute_dtype", request->compute_dtype,
                  "bnb_4bit_compute_dtype: fp32 (default), bf16 or fp16");
  cmd->add_option("--max_shard_size", request->max_shard_size, "Shard size (default 5GB)");
  cmd->add_option("--torch_threads", request->torch_threads,
                  "torch threads whose sum order the double-quant offset follows (default: "
                  "LibTorch's thread count)");
  cmd->callback([request]() {
    auto line = RunQuantize(*request);
    ExitIfError("quantize", line.status());
    std::cout << *line << "\n";
  });
}

}  // namespace zt::worker::model
