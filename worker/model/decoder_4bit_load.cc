#include "worker/model/decoder_4bit_load.h"

#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "sharding/zero/tensor_storage.h"

namespace zt::worker::model {
namespace {

absl::StatusOr<at::Tensor> GetTensor(const io::ShardedSafetensors& weights, const std::string& name,
                                     const std::string& weight_name, std::set<std::string>& used) {
  if (!weights.Contains(name)) {
    return absl::NotFoundError(absl::StrCat(
        weights.FileOf(weight_name), ": tensor \"", name, "\" is missing (a bitsandbytes 4-bit ",
        "weight is stored with .absmax, .quant_map and .quant_state.bitsandbytes__nf4|fp4, as "
        "transformers' save_pretrained writes it)"));
  }
  used.insert(name);
  return weights.Get(name);
}

absl::Status Mismatch(const io::ShardedSafetensors& weights, const std::string& name,
                      const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat(weights.FileOf(name), ": tensor \"", name, "\": ", what));
}

// The quant-state blob under name.quant_state.bitsandbytes__nf4 (or __fp4), parsed.
absl::Status ReadQuantState(const io::ShardedSafetensors& weights, const std::string& name,
                            Packed4bitWeight& w, std::set<std::string>& used) {
  std::string blob_name;
  for (const char* type : {"nf4", "fp4"}) {
    const std::string candidate = absl::StrCat(name, ".quant_state.bitsandbytes__", type);
    if (weights.Contains(candidate)) blob_name = candidate;
  }
  if (blob_name.empty()) blob_name = name + ".quant_state.bitsandbytes__nf4";
  ZT_ASSIGN_OR_RETURN(at::Tensor blob, GetTensor(weights, blob_name, name, used));
  if (blob.scalar_type() != at::kByte) return Mismatch(weights, blob_name, "expected uint8 bytes");
  blob = blob.contiguous();
  const std::string_view text(reinterpret_cast<const char*>(blob.data_ptr<uint8_t>()),
                              static_cast<size_t>(blob.numel()));
  const nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr,
                                                 /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("quant_type") || !j["quant_type"].is_string() ||
      !j.contains("blocksize") || !j["blocksize"].is_number_integer() || !j.contains("dtype") ||
      !j["dtype"].is_string() || !j.contains("shape") || !j["shape"].is_array()) {
    return Mismatch(weights, blob_name,
                    absl::StrCat("expected bitsandbytes' JSON quant state with quant_type, "
                                 "blocksize, dtype and shape, got ",
                                 std::string(text.substr(0, 200))));
  }
  const std::string type = j["quant_type"].get<std::string>();
  if (type != "nf4" && type != "fp4") {
    return Mismatch(weights, blob_name,
                    absl::StrCat("quant_type \"", type, "\", expected nf4 or fp4"));
  }
  w.quant_type = type == "nf4" ? kernels::Quant4Type::kNf4 : kernels::Quant4Type::kFp4;
  w.blocksize = j["blocksize"].get<int64_t>();
  const std::string dtype = j["dtype"].get<std::string>();
  if (dtype == "float32") {
    w.dtype = at::kFloat;
  } else if (dtype == "bfloat16") {
    w.dtype = at::kBFloat16;
  } else if (dtype == "float16") {
    w.dtype = at::kHalf;
  } else {
    return Mismatch(weights, blob_name,
                    absl::StrCat("dtype \"", dtype, "\", expected float32, bfloat16 or float16"));
  }
  const std::vector<int64_t> shape = j["shape"].get<std::vector<int64_t>>();
  if (shape != std::vector<int64_t>{w.out_features, w.in_features}) {
    return Mismatch(weights, blob_name,
                    absl::StrCat("shape [", absl::StrJoin(shape, ", "), "], expected [",
                                 w.out_features, ", ", w.in_features,
                                 "] from config.json (hint: maybe wrong base model or config?)"));
  }
  if (j.contains("nested_offset")) {
    if (!j["nested_offset"].is_number()) {
      return Mismatch(weights, blob_name, "nested_offset is not a number");
    }
    // json.dumps wrote the fp32 offset's double repr: the cast back is exact.
    w.nested_offset = static_cast<float>(j["nested_offset"].get<double>());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Packed4bitWeight> ReadPacked4bitWeight(const io::ShardedSafetensors& weights,
                                                      const std::string& name, int64_t out,
                                                      int64_t in, std::set<std::string>& used) {
  Packed4bitWeight w;
  w.out_features = out;
  w.in_features = in;
  ZT_ASSIGN_OR_RETURN(w.packed, GetTensor(weights, name, name, used));
  if (w.packed.scalar_type() != at::kByte) {
    return Mismatch(weights, name,
                    absl::StrCat("is ", c10::toString(w.packed.scalar_type()),
                                 ", expected the packed uint8 codes of a bitsandbytes 4-bit "
                                 "weight (config.json has a quantization_config)"));
  }
  ZT_RETURN_IF_ERROR(ReadQuantState(weights, name, w, used));
  ZT_ASSIGN_OR_RETURN(w.absmax, GetTensor(weights, name + ".absmax", name, used));
  ZT_ASSIGN_OR_RETURN(w.quant_map, GetTensor(weights, name + ".quant_map", name, used));
  if (weights.Contains(name + ".nested_absmax")) {
    ZT_ASSIGN_OR_RETURN(w.nested_absmax, GetTensor(weights, name + ".nested_absmax", name, used));
    ZT_ASSIGN_OR_RETURN(w.nested_quant_map,
                        GetTensor(weights, name + ".nested_quant_map", name, used));
  }
  for (at::Tensor* t :
       {&w.packed, &w.absmax, &w.quant_map, &w.nested_absmax, &w.nested_quant_map}) {
    if (t->defined()) *t = t->reshape({-1});  // bitsandbytes stores packed as [n, 1]
  }
  if (absl::Status s = ValidatePacked4bitWeight(w); !s.ok()) {
    return Mismatch(weights, name, std::string(s.message()));
  }
  return w;
}

absl::StatusOr<Packed4bitWeight> QuantizeWeightWhileLoading(const io::ShardedSafetensors& weights,
                                                            const std::string& name, int64_t out,
                                                            int64_t in,
                                                            const Load4bitOptions& options) {
  ZT_ASSIGN_OR_RETURN(const at::Tensor file_tensor, weights.Get(name));
  if (file_tensor.sizes() != at::IntArrayRef({out, in})) {
    return Mismatch(
        weights, name,
        absl::StrCat("has shape [", absl::StrJoin(file_tensor.sizes(), ", "), "], expected [", out,
                     ", ", in, "] from config.json (hint: maybe wrong base model or config?)"));
  }
  const at::ScalarType t = file_tensor.scalar_type();
  if (t != at::kFloat && t != at::kHalf && t != at::kBFloat16) {
    return Mismatch(weights, name,
                    absl::StrCat("is ", c10::toString(t),
                                 ", expected fp32, fp16 or bf16 to "
                                 "quantize (--q_lora)"));
  }
  const bool cast =
      options.quantize_dtype != at::ScalarType::Undefined && options.quantize_dtype != t;
  const at::Tensor dense = cast ? file_tensor.to(options.quantize_dtype) : file_tensor;
  Packed4bitWeight w = QuantizePacked4bit(dense.contiguous(), options.quant_type, options.blocksize,
                                          options.double_quant, options.torch_threads);
  // The 16-bit weight is no longer needed: its pages go back to the page cache.
  sharding::ReleaseHostPages(file_tensor);
  return w;
}

}  // namespace zt::worker::model
