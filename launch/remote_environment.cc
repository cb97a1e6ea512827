#include "launch/remote_environment.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace zt::launch {
namespace {

bool IsName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(name[0])) return false;
  for (const char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

bool Forwarded(absl::string_view name) {
  static const char* const kNames[] = {"PATH", "LD_LIBRARY_PATH", "HOME",  "USER",  "LOGNAME",
                                       "SHELL", "LANG",           "TZ",    "TMPDIR"};
  static const char* const kPrefixes[] = {"LC_",  "NCCL_", "GLOO_", "TORCH_", "OMP_",    "MKL_", "OPENBLAS_",
                                          "CUDA_", "HF_",  "PYTHON", "UCX_",  "MV2_", "ZEROTUNE_"};
  for (const char* exact : kNames) {
    if (name == exact) return true;
  }
  for (const char* prefix : kPrefixes) {
    if (absl::StartsWith(name, prefix)) return true;
  }
  return false;
}

absl::StatusOr<std::vector<EnvVariable>> ReadFrom(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("env file '", path, "' cannot be read"));
  std::ostringstream text;
  text << in.rdbuf();
  return ParseEnvFile(text.str(), path);
}

}  // namespace

absl::StatusOr<std::vector<EnvVariable>> ParseEnvFile(absl::string_view text, absl::string_view path) {
  std::vector<EnvVariable> variables;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripSuffix(line, "\r");
    const absl::string_view stripped = absl::StripAsciiWhitespace(line);
    if (stripped.empty() || absl::StartsWith(stripped, "#")) continue;
    const size_t equals = stripped.find('=');
    if (equals == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": '", stripped,
                                                     "' is not NAME=VALUE"));
    }
    const absl::string_view name = stripped.substr(0, equals);
    if (!IsName(name)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": '", name,
                                                     "' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)"));
    }
    variables.emplace_back(std::string(name), std::string(stripped.substr(equals + 1)));
  }
  return variables;
}

absl::StatusOr<std::vector<EnvVariable>> ReadEnvFile(const std::string& explicit_path) {
  if (!explicit_path.empty()) return ReadFrom(explicit_path);
  std::vector<std::string> candidates;
  if (const char* ds = std::getenv("DS_ENV_FILE"); ds != nullptr && *ds != '\0') candidates.push_back(ds);
  candidates.push_back(".deepspeed_env");
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    candidates.push_back(absl::StrCat(home, "/.deepspeed_env"));
  }
  for (const std::string& path : candidates) {
    std::error_code error;
    if (std::filesystem::is_regular_file(path, error)) return ReadFrom(path);
  }
  return std::vector<EnvVariable>();
}

std::vector<std::string> RemoteEnvironment(const std::vector<std::string>& launcher_env,
                                           const std::vector<EnvVariable>& file) {
  std::vector<std::string> env;
  for (const std::string& entry : launcher_env) {
    const absl::string_view name = absl::string_view(entry).substr(0, entry.find('='));
    if (!Forwarded(name)) continue;
    bool overridden = false;
    for (const EnvVariable& variable : file) overridden = overridden || variable.first == name;
    if (!overridden) env.push_back(entry);
  }
  for (const EnvVariable& variable : file) env.push_back(absl::StrCat(variable.first, "=", variable.second));
  return env;
}

}  // namespace zt::launch
