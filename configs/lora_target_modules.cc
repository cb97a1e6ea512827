#include "configs/lora_target_modules.h"

#include <algorithm>
#include <regex>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace zt::configs {
namespace {

constexpr char kForms[] =
    "expected module names \"a,b,c\", a JSON list [\"a\", \"b\"], a regex or all-linear";

bool IsPlainName(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  });
}

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": ", why, "; ", kForms));
}

}  // namespace

bool LoraTargetModules::Matches(absl::string_view full_name, bool is_linear) const {
  switch (kind) {
    case Kind::kAllLinear:
      return is_linear && full_name != "lm_head" && !absl::EndsWith(full_name, ".lm_head");
    case Kind::kRegex:
      return std::regex_match(full_name.begin(), full_name.end(), std::regex(regex));
    case Kind::kNames:
      for (const std::string& name : names) {
        if (full_name == name || absl::EndsWith(full_name, absl::StrCat(".", name))) return true;
      }
      return false;
  }
  return false;
}

std::string LoraTargetModules::ToPeftJson() const {
  switch (kind) {
    case Kind::kAllLinear: return "\"all-linear\"";
    case Kind::kRegex: return nlohmann::json(regex).dump();
    case Kind::kNames: {
      std::vector<std::string> sorted = names;
      std::sort(sorted.begin(), sorted.end());
      return nlohmann::json(sorted).dump();
    }
  }
  return "null";
}

absl::StatusOr<LoraTargetModules> ParseLoraTargetModules(absl::string_view text) {
  absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  LoraTargetModules out;
  if (trimmed.empty()) return Invalid(text, "empty");
  if (absl::AsciiStrToLower(trimmed) == "all-linear") {
    out.kind = LoraTargetModules::Kind::kAllLinear;
    return out;
  }
  if (trimmed.front() == '[') {
    nlohmann::json list = nlohmann::json::parse(trimmed, nullptr, /*allow_exceptions=*/false);
    if (!list.is_array() || list.empty()) return Invalid(text, "not a non-empty JSON list");
    for (const auto& item : list) {
      if (!item.is_string() || !IsPlainName(item.get<std::string>())) {
        return Invalid(text, absl::StrCat("list entry ", item.dump(), " is not a module name"));
      }
      out.names.push_back(item.get<std::string>());
    }
    return out;
  }
  std::vector<std::string> parts = absl::StrSplit(trimmed, ',');
  bool all_plain = true;
  for (std::string& part : parts) {
    part = std::string(absl::StripAsciiWhitespace(part));
    all_plain = all_plain && IsPlainName(part);
  }
  if (all_plain) {
    out.names = std::move(parts);
    return out;
  }
  if (parts.size() > 1 && std::any_of(parts.begin(), parts.end(),
                                      [](const std::string& p) { return p.empty(); })) {
    return Invalid(text, "empty module name in the list");
  }
  out.kind = LoraTargetModules::Kind::kRegex;
  out.regex = std::string(trimmed);
  try {
    std::regex compiled(out.regex);
  } catch (const std::regex_error& e) {
    return Invalid(text, absl::StrCat("not a valid regular expression (", e.what(), ")"));
  }
  return out;
}

namespace {

// The distinct last name components ("q_proj", ...), for error messages.
std::string ShortNames(const std::vector<std::string>& names) {
  std::set<std::string> shorts;
  for (const std::string& n : names) shorts.insert(n.substr(n.rfind('.') + 1));
  return absl::StrJoin(shorts, ", ");
}

}  // namespace

absl::Status CheckLoraTargetsMatch(const LoraTargetModules& targets,
                               const std::vector<std::string>& modules) {
  using Kind = LoraTargetModules::Kind;
  std::vector<std::string> unmatched;
  if (targets.kind == Kind::kNames) {
    for (const std::string& entry : targets.names) {
      if (entry == "lm_head") {
        return absl::UnimplementedError("--lora_target_modules: LoRA on lm_head is not supported");
      }
      LoraTargetModules one;
      one.names = {entry};
      bool any = false;
      for (const std::string& m : modules) any = any || one.Matches(m, true);
      if (!any) unmatched.push_back(entry);
    }
  } else {
    bool any = false;
    for (const std::string& m : modules) any = any || targets.Matches(m, true);
    if (!any) unmatched.push_back(targets.kind == Kind::kRegex ? targets.regex : "all-linear");
  }
  if (unmatched.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--lora_target_modules: ", absl::StrJoin(unmatched, ", "),
      " matches no module of the model; its linear modules are ", ShortNames(modules),
      " (e.g. ", modules.empty() ? "" : modules[0],
      ") (hint: c_attn/c_proj are GPT-2 and Qwen-1 names; Qwen2/3 and Llama use q_proj, k_proj, "
      "v_proj, o_proj, gate_proj, up_proj, down_proj)"));
}

}  // namespace zt::configs
