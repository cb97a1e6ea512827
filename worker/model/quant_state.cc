#include "worker/model/quant_state.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace zt::worker::model {

std::string PythonFloatRepr(double value) {
  if (std::isnan(value)) return "NaN";  // json.dumps' spellings
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  const std::string text(buffer, result.ptr);  // "-4.988349601626396e-02"
  const size_t e = text.find('e');
  const bool negative = text[0] == '-';
  std::string digits;
  for (size_t i = negative ? 1 : 0; i < e; ++i) {
    if (text[i] != '.') digits += text[i];
  }
  const int exponent = std::atoi(text.c_str() + e + 1);
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(-exponent - 1, '0') + digits;
    } else {
      if (digits.size() < static_cast<size_t>(exponent) + 1) digits.resize(exponent + 1, '0');
      const std::string fraction = digits.substr(exponent + 1);
      out += digits.substr(0, exponent + 1) + "." + (fraction.empty() ? "0" : fraction);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  const int magnitude = std::abs(exponent);
  return absl::StrCat(out, "e", exponent < 0 ? "-" : "+", magnitude < 10 ? "0" : "", magnitude);
}

std::string QuantStateJson(const QuantStateFields& f) {
  std::string json = absl::StrCat("{\"quant_type\": \"", f.quant_type,
                                  "\", \"blocksize\": ", f.blocksize, ", \"dtype\": \"", f.dtype,
                                  "\", \"shape\": [", absl::StrJoin(f.shape, ", "), "]");
  if (f.nested_offset.has_value()) {
    absl::StrAppend(&json, ", \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", ",
                    "\"nested_offset\": ", PythonFloatRepr(*f.nested_offset));
  }
  return json + "}";
}

nlohmann::json BitsAndBytes4bitConfig(const std::string& quant_type, bool double_quant,
                                      const std::string& compute_dtype) {
  return nlohmann::json{
      {"_load_in_4bit", true},
      {"_load_in_8bit", false},
      {"bnb_4bit_compute_dtype", compute_dtype},
      {"bnb_4bit_quant_storage", "uint8"},
      {"bnb_4bit_quant_type", quant_type},
      {"bnb_4bit_use_double_quant", double_quant},
      {"llm_int8_enable_fp32_cpu_offload", false},
      {"llm_int8_has_fp16_weight", false},
      {"llm_int8_skip_modules", nullptr},
      {"llm_int8_threshold", 6.0},
      {"load_in_4bit", true},
      {"load_in_8bit", false},
      {"quant_method", "bitsandbytes"},
  };
}

}  // namespace zt::worker::model
