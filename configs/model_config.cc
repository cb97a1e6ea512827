#include "configs/model_config.h"

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "configs/json_reader.h"

namespace zt::configs {
namespace {

using nlohmann::json;

constexpr char kQLoraHint[] =
    "use a 16-bit Qwen2.5 checkpoint (e.g. Qwen/Qwen2.5-7B-Instruct) with --q_lora, which "
    "quantizes it to 4-bit NF4 at load";
constexpr long double kMaxParameters = 1e15L;
const char* const kRopeTypes[] = {"default", "linear", "dynamic", "yarn", "llama3"};

// Reads typed keys with a per-key default, collecting the first error.
class Reader {
 public:
  Reader(const json& j, absl::string_view source) : j_(j), source_(source) {}

  absl::Status status() const { return status_; }

  template <typename T>
  T Get(const char* key, T fallback) {
    return GetFrom(j_, key, key, fallback);
  }

  template <typename T>
  T GetFrom(const json& object, const char* key, const std::string& path, T fallback) {
    if (!object.contains(key) || object[key].is_null()) return fallback;
    const json& v = object[key];
    if constexpr (std::is_same_v<T, bool>) {
      if (v.is_boolean()) return v.get<bool>();
      Fail(path, v, "true or false");
    } else if constexpr (std::is_same_v<T, int64_t>) {
      if (v.is_number_integer()) return v.get<int64_t>();
      if (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>()))) {
        return static_cast<int64_t>(v.get<double>());
      }
      Fail(path, v, "an integer");
    } else if constexpr (std::is_same_v<T, double>) {
      if (v.is_number()) return v.get<double>();
      Fail(path, v, "a number");
    } else {
      if (v.is_string()) return v.get<std::string>();
      Fail(path, v, "a string");
    }
    return fallback;
  }

  std::optional<int64_t> OptionalInt(const char* key) {
    if (!j_.contains(key) || j_[key].is_null()) return std::nullopt;
    return Get<int64_t>(key, 0);
  }

  void Fail(const std::string& path, const json& v, absl::string_view expected) {
    if (!status_.ok()) return;
    status_ = absl::InvalidArgumentError(
        absl::StrCat(source_, ": ", path, ": got ", v.dump(), ", expected ", expected));
  }
  void Fail(const std::string& path, absl::string_view message) {
    if (status_.ok()) status_ = absl::InvalidArgumentError(absl::StrCat(source_, ": ", path, ": ", message));
  }

 private:
  const json& j_;
  std::string source_;
  absl::Status status_;
};

struct TypeDefaults {
  int64_t vocab, hidden, intermediate, layers, heads, max_positions;
  double rope_theta;
};

absl::StatusOr<TypeDefaults> DefaultsFor(const std::string& model_type, absl::string_view source) {
  if (model_type == "qwen2" || model_type == "qwen3") {
    return TypeDefaults{151936, 4096, 22016, 32, 32, 32768, 10000.0};
  }
  if (model_type == "llama") return TypeDefaults{32000, 4096, 11008, 32, 32, 2048, 10000.0};
  if (model_type == "qwen") {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": model_type: \"qwen\" (Qwen-1, remote code) is not supported; ", kQLoraHint));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": model_type: ", json(model_type).dump(),
                   " is not supported, expected one of qwen2, qwen3, llama"));
}

void ReadRope(const json& j, Reader& r, ModelConfig& c) {
  // transformers 5.x folds rope_theta and rope_scaling into rope_parameters.
  const bool v5 = j.contains("rope_parameters") && j["rope_parameters"].is_object();
  const json& rope = v5 ? j["rope_parameters"] : j.value("rope_scaling", json());
  const std::string prefix = v5 ? "rope_parameters" : "rope_scaling";
  c.rope_theta = v5 ? r.GetFrom(rope, "rope_theta", prefix + ".rope_theta", c.rope_theta)
                    : r.Get<double>("rope_theta", c.rope_theta);
  if (rope.is_null()) return;
  if (!rope.is_object()) {
    r.Fail(prefix, rope, "an object or null");
    return;
  }
  std::string type = r.GetFrom<std::string>(rope, "rope_type", prefix + ".rope_type", "");
  if (type.empty()) type = r.GetFrom<std::string>(rope, "type", prefix + ".type", "default");
  bool known = false;
  for (const char* t : kRopeTypes) known = known || type == t;
  if (!known) {
    r.Fail(prefix + ".rope_type",
           absl::StrCat(json(type).dump(), " is not supported, expected one of ",
                        absl::StrJoin(kRopeTypes, ", ")));
    return;
  }
  RopeScaling& s = c.rope_scaling;
  s.rope_type = type;
  s.factor = r.GetFrom(rope, "factor", prefix + ".factor", s.factor);
  if (rope.contains("original_max_position_embeddings")) {
    s.original_max_position_embeddings = r.GetFrom<int64_t>(
        rope, "original_max_position_embeddings", prefix + ".original_max_position_embeddings", 0);
  }
  if (rope.contains("attention_factor") && !rope["attention_factor"].is_null()) {
    s.attention_factor = r.GetFrom(rope, "attention_factor", prefix + ".attention_factor", 1.0);
  }
  s.beta_fast = r.GetFrom(rope, "beta_fast", prefix + ".beta_fast", s.beta_fast);
  s.beta_slow = r.GetFrom(rope, "beta_slow", prefix + ".beta_slow", s.beta_slow);
  s.low_freq_factor = r.GetFrom(rope, "low_freq_factor", prefix + ".low_freq_factor", s.low_freq_factor);
  s.high_freq_factor =
      r.GetFrom(rope, "high_freq_factor", prefix + ".high_freq_factor", s.high_freq_factor);
  if (type != "default" && s.factor <= 0) r.Fail(prefix + ".factor", rope["factor"], "a number > 0");
}

absl::Status ReadQuantization(const json& j, absl::string_view source, ModelConfig& c) {
  if (!j.contains("quantization_config") || j["quantization_config"].is_null()) {
    return absl::OkStatus();
  }
  const json& q = j["quantization_config"];
  const std::string method = q.is_object() ? q.value("quant_method", std::string("bitsandbytes")) : "";
  if (method != "bitsandbytes") {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": quantization_config.quant_method: ", json(method).dump(),
        " checkpoints (GPTQ/AWQ and other pre-quantized formats) are not supported; ", kQLoraHint));
  }
  Reader r(q, source);
  BnbQuantization b;
  b.load_in_4bit = r.GetFrom(q, "load_in_4bit", "quantization_config.load_in_4bit", false);
  b.load_in_8bit = r.GetFrom(q, "load_in_8bit", "quantization_config.load_in_8bit", false);
  b.bnb_4bit_quant_type = r.GetFrom<std::string>(q, "bnb_4bit_quant_type",
                                                 "quantization_config.bnb_4bit_quant_type", "fp4");
  b.bnb_4bit_use_double_quant = r.GetFrom(q, "bnb_4bit_use_double_quant",
                                          "quantization_config.bnb_4bit_use_double_quant", false);
  b.bnb_4bit_compute_dtype = r.GetFrom<std::string>(
      q, "bnb_4bit_compute_dtype", "quantization_config.bnb_4bit_compute_dtype", "float32");
  c.quantization = b;
  return r.status();
}

absl::Status CheckShapes(const ModelConfig& c, absl::string_view source) {
  auto bad = [&](absl::string_view key, int64_t value, absl::string_view expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", key, ": got ", value, ", expected ", expected));
  };
  for (auto [key, value] : {std::pair<const char*, int64_t>{"vocab_size", c.vocab_size},
                            {"hidden_size", c.hidden_size},
                            {"intermediate_size", c.intermediate_size},
                            {"num_hidden_layers", c.num_hidden_layers},
                            {"num_attention_heads", c.num_attention_heads},
                            {"num_key_value_heads", c.num_key_value_heads},
                            {"head_dim", c.head_dim}}) {
    if (value <= 0) return bad(key, value, "a positive integer");
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return bad("num_key_value_heads", c.num_key_value_heads,
               absl::StrCat("a divisor of num_attention_heads ", c.num_attention_heads));
  }
  if (c.hidden_act != "silu") {
    return absl::InvalidArgumentError(absl::StrCat(source, ": hidden_act: ", json(c.hidden_act).dump(),
                                                   " is not supported, expected \"silu\""));
  }
  if (c.rms_norm_eps <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": rms_norm_eps: must be > 0"));
  }
  // Bounds every product CountParameters forms, so a hostile file cannot overflow int64.
  const long double h = c.hidden_size, q = static_cast<long double>(c.num_attention_heads) * c.head_dim;
  const long double kv = static_cast<long double>(c.num_key_value_heads) * c.head_dim;
  const long double per_layer = 2 * h * q + 2 * h * kv + 3 * h * c.intermediate_size + 4 * q;
  const long double total = 2 * static_cast<long double>(c.vocab_size) * h + c.num_hidden_layers * per_layer;
  if (total > kMaxParameters) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": the shapes give about ", static_cast<double>(total),
        " parameters, expected at most 1e15 (check hidden_size, intermediate_size, vocab_size, "
        "num_hidden_layers, head_dim)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(const json& j, absl::string_view source) {
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": expected a JSON object"));
  }
  if (!j.contains("model_type") || !j["model_type"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": model_type: missing, expected one of qwen2, qwen3, llama"));
  }
  ModelConfig c;
  c.model_type = j["model_type"].get<std::string>();
  ZT_ASSIGN_OR_RETURN(TypeDefaults d, DefaultsFor(c.model_type, source));
  ZT_RETURN_IF_ERROR(ReadQuantization(j, source, c));
  Reader r(j, source);
  if (j.contains("architectures") && j["architectures"].is_array()) {
    for (const json& a : j["architectures"]) {
      if (a.is_string()) c.architectures.push_back(a.get<std::string>());
    }
  }
  c.vocab_size = r.Get<int64_t>("vocab_size", d.vocab);
  c.hidden_size = r.Get<int64_t>("hidden_size", d.hidden);
  c.intermediate_size = r.Get<int64_t>("intermediate_size", d.intermediate);
  c.num_hidden_layers = r.Get<int64_t>("num_hidden_layers", d.layers);
  c.num_attention_heads = r.Get<int64_t>("num_attention_heads", d.heads);
  c.num_key_value_heads = r.Get<int64_t>("num_key_value_heads", c.num_attention_heads);
  const bool qwen3 = c.model_type == "qwen3";
  if (c.num_attention_heads > 0 && !qwen3 && !j.contains("head_dim") &&
      c.hidden_size % c.num_attention_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": hidden_size: ", c.hidden_size, " is not divisible by num_attention_heads ",
        c.num_attention_heads, " and there is no head_dim"));
  }
  c.head_dim = r.Get<int64_t>("head_dim", qwen3 ? 128
                                                : (c.num_attention_heads > 0
                                                       ? c.hidden_size / c.num_attention_heads
                                                       : 0));
  c.hidden_act = r.Get<std::string>("hidden_act", "silu");
  c.max_position_embeddings = r.Get<int64_t>("max_position_embeddings", d.max_positions);
  c.rms_norm_eps = r.Get<double>("rms_norm_eps", 1e-6);
  c.rope_theta = d.rope_theta;
  ReadRope(j, r, c);
  c.tie_word_embeddings = r.Get<bool>("tie_word_embeddings", false);
  const bool attention_bias = r.Get<bool>("attention_bias", false);
  c.qkv_bias = c.model_type == "qwen2" ? true : attention_bias;
  c.o_proj_bias = c.model_type == "qwen2" ? false : attention_bias;
  c.mlp_bias = c.model_type == "llama" && r.Get<bool>("mlp_bias", false);
  c.qk_norm = qwen3;
  c.attention_dropout = r.Get<double>("attention_dropout", 0.0);
  c.initializer_range = r.Get<double>("initializer_range", 0.02);
  c.dtype = r.Get<std::string>("dtype", r.Get<std::string>("torch_dtype", ""));
  c.bos_token_id = r.OptionalInt("bos_token_id");
  c.pad_token_id = r.OptionalInt("pad_token_id");
  if (j.contains("eos_token_id") && j["eos_token_id"].is_array()) {
    for (const json& e : j["eos_token_id"]) {
      if (!e.is_number_integer()) r.Fail("eos_token_id", e, "integers");
      else c.eos_token_ids.push_back(e.get<int64_t>());
    }
  } else if (auto eos = r.OptionalInt("eos_token_id")) {
    c.eos_token_ids.push_back(*eos);
  }
  c.use_sliding_window = r.Get<bool>("use_sliding_window", false);
  c.sliding_window = r.OptionalInt("sliding_window");
  c.max_window_layers = r.Get<int64_t>("max_window_layers", c.num_hidden_layers);
  ZT_RETURN_IF_ERROR(r.status());
  ZT_RETURN_IF_ERROR(CheckShapes(c, source));
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  std::error_code ec;
  std::string file = std::filesystem::is_directory(path, ec)
                         ? (std::filesystem::path(path) / "config.json").string()
                         : path;
  ZT_ASSIGN_OR_RETURN(json j, ReadTolerantJsonFile(file));
  return ParseModelConfig(j, file);
}

}  // namespace zt::configs
