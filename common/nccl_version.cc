#include "common/nccl_version.h"

#include "absl/strings/str_cat.h"
#include "common/nccl_check.h"

namespace zt::common {
namespace {

std::string FormatVersionCode(int code) {
  // NCCL >= 2.9 encodes major*10000 + minor*100 + patch.
  return absl::StrCat(code / 10000, ".", (code % 10000) / 100, ".", code % 100);
}

}  // namespace

std::string NcclCompiledVersion() { return FormatVersionCode(NCCL_VERSION_CODE); }

absl::StatusOr<std::string> NcclRuntimeVersion() {
  int code = 0;
  ZT_NCCL_RETURN_IF_ERROR(ncclGetVersion(&code), nullptr);
  if (code < NCCL_VERSION_CODE) {
    return absl::FailedPreconditionError(
        absl::StrCat("the loaded libnccl is ", FormatVersionCode(code),
                     " but zerotune was built against NCCL ", NcclCompiledVersion(),
                     "; hint: put the matching libnccl.so.2 first on LD_LIBRARY_PATH"));
  }
  return FormatVersionCode(code);
}

}  // namespace zt::common
