// ZT_MPI_RETURN_IF_ERROR: the one check for MPI calls (communicators must use
// MPI_ERRORS_RETURN for this to see errors instead of MPI aborting the job).
#pragma once

#include <mpi.h>

#include <string>

#include "absl/status/status.h"
#include "common/error_context.h"

namespace zt::common {

inline absl::Status MpiError(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  // MPI_Error_string is not callable before MPI_Init (Open MPI aborts); MPI_Initialized is.
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized || MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  std::string message = length > 0 ? std::string(text, length) : "MPI error code " + std::to_string(code);
  return ForeignLibraryError(absl::StatusCode::kAborted, "MPI", call, message, file, line);
}

}  // namespace zt::common

#define ZT_MPI_RETURN_IF_ERROR(call)                                              \
  do {                                                                            \
    int zt_mpi_code_ = (call);                                                    \
    if (zt_mpi_code_ != MPI_SUCCESS) {                                            \
      return ::zt::common::MpiError(zt_mpi_code_, #call, __FILE__, __LINE__);     \
    }                                                                             \
  } while (0)
