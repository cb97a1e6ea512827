// ZT_GLOO_RETURN_IF_ERROR: Gloo reports failures by throwing gloo::Exception (IoException for
// a dead peer or a timeout, EnforceNotMet for misuse). This turns them into absl::Status with
// host, rank and file:line; nothing else is caught.
#pragma once

#include <gloo/common/error.h>
#include <gloo/common/logging.h>

#include "absl/status/status.h"
#include "common/error_context.h"

#define ZT_GLOO_RETURN_IF_ERROR(statement)                                                  \
  do {                                                                                      \
    try {                                                                                   \
      statement;                                                                            \
    } catch (const ::gloo::IoException& zt_gloo_error_) {                                   \
      return ::zt::common::ForeignLibraryError(absl::StatusCode::kAborted, "Gloo", #statement, \
                                               zt_gloo_error_.what(), __FILE__, __LINE__); \
    } catch (const ::gloo::Exception& zt_gloo_error_) {                                     \
      return ::zt::common::ForeignLibraryError(absl::StatusCode::kInternal, "Gloo", #statement, \
                                               zt_gloo_error_.what(), __FILE__, __LINE__); \
    } catch (const ::gloo::EnforceNotMet& zt_gloo_error_) {                                 \
      return ::zt::common::ForeignLibraryError(absl::StatusCode::kInternal, "Gloo", #statement, \
                                               zt_gloo_error_.what(), __FILE__, __LINE__); \
    }                                                                                       \
  } while (0)
