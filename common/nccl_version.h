// The NCCL version compiled against and the one loaded at run time, for start-up logs and
// for refusing a runtime older than the headers.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace zt::common {

// "2.28.9" for the headers this was compiled with.
std::string NcclCompiledVersion();

// The loaded libnccl's version; FailedPrecondition when it is older than the headers.
absl::StatusOr<std::string> NcclRuntimeVersion();

}  // namespace zt::common
