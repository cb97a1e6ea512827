#include "worker/model/lora_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <algorithm>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace zt::worker::model {
namespace {

constexpr char kPeftPrefix[] = "base_model.model.";

// Each decoder-layer linear with its full module name.
std::vector<std::pair<std::string, Linear*>> AllLinears(Decoder& decoder) {
  std::vector<std::pair<std::string, Linear*>> out;
  for (size_t i = 0; i < decoder.layers().size(); ++i) {
    for (auto& [name, linear] : decoder.layers()[i].Linears()) {
      out.emplace_back(absl::StrCat("model.layers.", i, ".", name), linear);
    }
  }
  return out;
}

}  // namespace

double LoraOptions::Scaling() const {
  return use_rslora ? lora_alpha / std::sqrt(static_cast<double>(r))
                    : lora_alpha / static_cast<double>(r);
}

std::vector<std::string> LinearModuleNames(const Decoder& decoder) {
  std::vector<std::string> names;
  for (auto& [name, linear] : AllLinears(const_cast<Decoder&>(decoder))) names.push_back(name);
  return names;
}

absl::Status ApplyLora(Decoder& decoder, const LoraOptions& options, uint64_t seed) {
  if (options.r <= 0 || !(options.lora_dropout >= 0 && options.lora_dropout < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--lora_r = ", options.r, ", --lora_dropout = ", options.lora_dropout,
        ", expected r > 0 and 0 <= dropout < 1"));
  }
  const std::vector<std::string> modules = LinearModuleNames(decoder);
  if (absl::Status s = configs::CheckLoraTargetsMatch(options.target_modules, modules); !s.ok()) return s;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  for (auto& [name, linear] : AllLinears(decoder)) {
    if (!options.target_modules.Matches(name, /*is_linear=*/true)) continue;
    const int64_t in = linear->in_features(), out = linear->out_features();
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));  // kaiming_uniform(a=sqrt(5))
    LoraAdapter adapter;
    adapter.a = at::empty({options.r, in}, opts).uniform_(-bound, bound, gen);
    adapter.b = options.init_b_zero
                    ? at::zeros({out, options.r}, opts)
                    : at::empty({out, options.r}, opts)
                          .uniform_(-1.0 / std::sqrt(double(options.r)),
                                    1.0 / std::sqrt(double(options.r)), gen);
    const auto device = linear->device();
    adapter.a = adapter.a.to(device, options.dtype);
    adapter.b = adapter.b.to(device, options.dtype);
    adapter.scaling = options.Scaling();
    adapter.dropout = options.lora_dropout;
    linear->lora = std::move(adapter);
  }
  return absl::OkStatus();
}

std::vector<std::string> LoraModuleNames(const Decoder& decoder) {
  std::vector<std::string> names;
  for (auto& [name, linear] : AllLinears(const_cast<Decoder&>(decoder))) {
    if (linear->lora.has_value()) names.push_back(name);
  }
  return names;
}

void SetTrainable(Decoder& decoder, bool train_base) {
  for (auto& [name, tensor] : decoder.NamedTensors()) {
    const bool trainable = train_base || absl::StrContains(name, ".lora_");
    if (tensor->requires_grad() != trainable) tensor->set_requires_grad(trainable);
  }
}

std::string PeftTensorName(const std::string& inner_name) { return kPeftPrefix + inner_name; }

io::NamedTensors LoraStateDict(Decoder& decoder) {
  io::NamedTensors out;
  for (auto& [name, tensor] : decoder.NamedTensors()) {
    if (absl::StrContains(name, ".lora_")) {
      out.emplace_back(PeftTensorName(name), tensor->detach().to(at::kFloat));
    }
  }
  return out;
}

std::string ParameterSummary::ToString() const {
  // PEFT formats with Python's {:,d} and {:.4f}.
  auto grouped = [](int64_t n) {
    std::string digits = std::to_string(n), out;
    for (size_t i = 0; i < digits.size(); ++i) {
      if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
      out += digits[i];
    }
    return out;
  };
  const double percent = all > 0 ? 100.0 * static_cast<double>(trainable) / all : 0.0;
  return absl::StrFormat("trainable params: %s || all params: %s || trainable%%: %.4f",
                         grouped(trainable), grouped(all), percent);
}

ParameterSummary SummarizeParameters(Decoder& decoder) {
  ParameterSummary summary;
  for (auto& [name, tensor] : decoder.NamedTensors()) {
    summary.all += tensor->numel();
    if (tensor->requires_grad()) summary.trainable += tensor->numel();
  }
  // A 4-bit base counts as PEFT counts a Params4bit: two parameters per packed byte.
  for (auto& [name, linear] : AllLinears(decoder)) {
    if (linear->base4bit.has_value()) summary.all += 2 * linear->base4bit->weight.packed.numel();
  }
  return summary;
}

void MergeLora(Decoder& decoder) {
  for (auto& [name, linear] : AllLinears(decoder)) {
    if (!linear->lora.has_value()) continue;
    TORCH_CHECK(!linear->base4bit.has_value(), "MergeLora: ", name,
                " has a 4-bit base; merge into the 16-bit model instead");
    const at::Tensor w = linear->weight.detach();
    at::Tensor merged = (w.to(at::kFloat) + linear->lora->DeltaWeight().to(w.device())).to(w.scalar_type());
    linear->weight = merged;
    linear->lora.reset();
  }
}

namespace {

struct AdapterTensorName {
  std::string module;
  bool is_a = false;
};

absl::StatusOr<AdapterTensorName> SplitAdapterName(const std::string& name,
                                                   const std::string& file) {
  const std::string prefix = kPeftPrefix;
  for (const char* suffix : {".lora_A.weight", ".lora_B.weight"}) {
    if (absl::StartsWith(name, prefix) && absl::EndsWith(name, suffix)) {
      const std::string module =
          name.substr(prefix.size(), name.size() - prefix.size() - std::string(suffix).size());
      return AdapterTensorName{module, suffix[6] == 'A'};
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      file, ": tensor \"", name, "\" is not base_model.model.<module>.lora_{A,B}.weight "
      "(DoRA, embedding LoRA and modules_to_save are not supported)"));
}

}  // namespace

absl::Status AttachPeftAdapter(Decoder& decoder, const io::PeftAdapter& adapter,
                               at::ScalarType dtype) {
  const io::PeftLoraConfig& config = adapter.config;
  const std::string& file = adapter.tensors->path();
  std::map<std::string, Linear*> linears;
  for (auto& [name, linear] : AllLinears(decoder)) linears[name] = linear;
  std::map<std::string, LoraAdapter> found;
  for (const std::string& name : adapter.tensors->Names()) {
    auto split = SplitAdapterName(name, file);
    if (!split.ok()) return split.status();
    auto it = linears.find(split->module);
    if (it == linears.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": tensor \"", name, "\" adapts module ", split->module,
          ", which the base model lacks (hint: maybe wrong base model?)"));
    }
    at::Tensor t = *adapter.tensors->Get(name);
    const std::vector<int64_t> expected =
        split->is_a ? std::vector<int64_t>{config.r, it->second->in_features()}
                    : std::vector<int64_t>{it->second->out_features(), config.r};
    if (t.sizes() != at::IntArrayRef(expected)) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": tensor \"", name, "\" has shape [", absl::StrJoin(t.sizes(), ", "),
          "], expected [", absl::StrJoin(expected, ", "), "] for r = ", config.r,
          " (hint: maybe wrong base model?)"));
    }
    LoraAdapter& a = found[split->module];
    (split->is_a ? a.a : a.b) =
        t.to(it->second->device(), dtype, /*non_blocking=*/false, /*copy=*/true);
  }
  LoraOptions scaling;
  scaling.r = config.r;
  scaling.lora_alpha = config.lora_alpha;
  scaling.use_rslora = config.use_rslora;
  for (auto& [module, a] : found) {
    if (!a.a.defined() || !a.b.defined()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": module ", module, " has lora_",
                                                     a.a.defined() ? "A" : "B", " but not lora_",
                                                     a.a.defined() ? "B" : "A"));
    }
    a.scaling = scaling.Scaling();
    a.dropout = config.lora_dropout;
    linears[module]->lora = a;
  }
  return absl::OkStatus();
}

absl::Status CheckAdapterMatchesTargets(const Decoder& decoder,
                                        const configs::LoraTargetModules& targets,
                                        const io::PeftAdapter& adapter) {
  const std::string& file = adapter.tensors->path();
  for (auto& [module, linear] : AllLinears(const_cast<Decoder&>(decoder))) {
    const bool selected = targets.Matches(module, /*is_linear=*/true);
    if (selected && !linear->lora.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": tensor \"", PeftTensorName(module + ".lora_A.weight"), "\" of shape [",
          adapter.config.r, ", ", linear->in_features(), "] is missing (and its lora_B [",
          linear->out_features(), ", ", adapter.config.r,
          "]): target_modules in adapter_config.json selects module ", module));
    }
    if (!selected && linear->lora.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": tensor \"", PeftTensorName(module + ".lora_A.weight"), "\" adapts module ",
          module, ", which target_modules in adapter_config.json (", targets.ToPeftJson(),
          ") does not select"));
    }
  }
  return absl::OkStatus();
}

io::PeftLoraConfig PeftConfigFor(const Decoder& decoder, const LoraOptions& options,
                                 const std::string& base_model_name_or_path) {
  using Kind = configs::LoraTargetModules::Kind;
  io::PeftLoraConfig c;
  c.r = options.r;
  c.lora_alpha = options.lora_alpha;
  c.lora_dropout = options.lora_dropout;
  c.use_rslora = options.use_rslora;
  c.base_model_name_or_path = base_model_name_or_path;
  c.init_lora_weights = options.init_b_zero;
  const configs::LoraTargetModules& t = options.target_modules;
  if (t.kind == Kind::kRegex) {
    c.target_modules = t.regex;
  } else {
    std::vector<std::string> names = t.kind == Kind::kAllLinear ? LoraModuleNames(decoder) : t.names;
    std::sort(names.begin(), names.end());
    c.target_modules = names;
  }
  return c;
}

}  // namespace zt::worker::model
