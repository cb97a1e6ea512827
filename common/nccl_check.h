// ZT_NCCL_RETURN_IF_ERROR: the one check for NCCL calls. ncclInProgress (non-blocking
// communicators) is not an error here; callers that poll test for it themselves.
#pragma once

#include <nccl.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/error_context.h"
#include "common/nccl_compat.h"

namespace zt::common {

inline absl::Status NcclError(ncclResult_t result, ncclComm_t comm, const char* call,
                              const char* file, int line) {
  std::string message = ncclGetErrorString(result);
#if ZT_NCCL_HAS_LAST_ERROR
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && last[0] != '\0') absl::StrAppend(&message, " (", last, ")");
#else
  (void)comm;
#endif
  // A remote or system error means a peer or the network failed: restart higher up.
  absl::StatusCode code = (result == ncclRemoteError || result == ncclSystemError)
                              ? absl::StatusCode::kAborted
                              : absl::StatusCode::kInternal;
  if (result == ncclInvalidArgument || result == ncclInvalidUsage) {
    code = absl::StatusCode::kInvalidArgument;
  }
  return ForeignLibraryError(code, "NCCL", call, message, file, line);
}

}  // namespace zt::common

// `comm` may be nullptr when the call has no communicator yet (ncclGetUniqueId).
#define ZT_NCCL_RETURN_IF_ERROR(call, comm)                                              \
  do {                                                                                   \
    ncclResult_t zt_nccl_result_ = (call);                                               \
    if (zt_nccl_result_ != ncclSuccess && zt_nccl_result_ != ncclInProgress) {           \
      return ::zt::common::NcclError(zt_nccl_result_, (comm), #call, __FILE__, __LINE__); \
    }                                                                                    \
  } while (0)
