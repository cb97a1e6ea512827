// What a rank started over ssh gets as its environment, before the launcher's per-rank
// contract (RANK, MASTER_ADDR, ZEROTUNE_*, ...): nothing is taken from the remote login.
//
//  - from the launcher's own environment: PATH, LD_LIBRARY_PATH, HOME, USER, LOGNAME, SHELL,
//    LANG, TZ, TMPDIR, LC_*, and every variable starting with NCCL_, GLOO_, TORCH_, OMP_,
//    MKL_, OPENBLAS_, CUDA_, HF_, PYTHON, UCX_, MV2_ or ZEROTUNE_ (DeepSpeed forwards
//    NCCL/PYTHON/UCX/MV2 and the accelerator's; GLOO_SOCKET_IFNAME picks Gloo's interface);
//  - then the variables of an env file in DeepSpeed's `.deepspeed_env` format (one NAME=VALUE
//    per line, the value taken verbatim up to the line end; blank and '#' lines skipped),
//    which override the above.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zt::launch {

using EnvVariable = std::pair<std::string, std::string>;

// InvalidArgument naming path:line for a line without '=' or with a name that is not
// [A-Za-z_][A-Za-z0-9_]*.
absl::StatusOr<std::vector<EnvVariable>> ParseEnvFile(absl::string_view text, absl::string_view path);

// `explicit_path` (--env_file) when given (NotFound if missing); else the first of
// $DS_ENV_FILE, ./.deepspeed_env, $HOME/.deepspeed_env that exists; none: no variables.
absl::StatusOr<std::vector<EnvVariable>> ReadEnvFile(const std::string& explicit_path);

// The forwarded part of `launcher_env` ("NAME=value" entries) with `file` applied on top.
std::vector<std::string> RemoteEnvironment(const std::vector<std::string>& launcher_env,
                                           const std::vector<EnvVariable>& file);

}  // namespace zt::launch
