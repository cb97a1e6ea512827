// Every coordinator RPC's first check (coordinator_service.h): the job token in the "zt-token"
// metadata (UNAUTHENTICATED naming the job and the variable ranks get the token from), then the
// protocol version (FAILED_PRECONDITION naming both). Rejections are logged at most once a second
// per kind (rate_limited_log.h). Thread-safe.
#pragma once

#include <ostream>
#include <string>

#include <grpcpp/support/server_callback.h>

#include "absl/status/status.h"
#include "coordinator/clock.h"
#include "coordinator/rate_limited_log.h"
#include "proto/zerotune.pb.h"

namespace zt::coordinator {

class RpcAuthorizer {
 public:
  // `log` (std::cerr when null) and `clock` must outlive it; `log_rejections` false: silent.
  RpcAuthorizer(std::string token, std::string job_id, bool log_rejections, std::ostream* log,
                Clock* clock);

  absl::Status Authorize(grpc::CallbackServerContext* context, const proto::Header& header,
                         const char* method);
  // One rate-limited line for a call refused later on (a stale generation, a full store).
  void LogRejection(grpc::CallbackServerContext* context, const char* method,
                    const absl::Status& status);

 private:
  const std::string token_;
  const std::string job_id_;
  const bool log_rejections_;
  RateLimitedLog rejections_;
};

}  // namespace zt::coordinator
