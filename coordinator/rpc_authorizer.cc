#include "coordinator/rpc_authorizer.h"

#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/protocol.h"

namespace zt::coordinator {

RpcAuthorizer::RpcAuthorizer(std::string token, std::string job_id, bool log_rejections,
                             std::ostream* log, Clock* clock)
    : token_(std::move(token)), job_id_(std::move(job_id)), log_rejections_(log_rejections),
      rejections_(log != nullptr ? log : &std::cerr, clock) {}

absl::Status RpcAuthorizer::Authorize(grpc::CallbackServerContext* context,
                                      const proto::Header& header, const char* method) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(kTokenMetadataKey);
  const absl::string_view token =
      it == metadata.end() ? absl::string_view() : absl::string_view(it->second.data(), it->second.size());
  if (!TokensEqual(token, token_)) {
    const char* why = it == metadata.end() ? "no job token" : "wrong job token";
    if (log_rejections_) {
      rejections_.Log(
          absl::StrCat(method, ": ", why),
          absl::StrCat("[coordinator] rejected ", method, " from ", context->peer(), ": ", why));
    }
    return absl::UnauthenticatedError(absl::StrCat(
        method, ": ", why, " for job '", job_id_, "'; ranks get it through ", kEnvToken));
  }
  return CheckProtocolVersion(header);
}

void RpcAuthorizer::LogRejection(grpc::CallbackServerContext* context, const char* method,
                                 const absl::Status& status) {
  if (!log_rejections_) return;
  rejections_.Log(absl::StrCat(method, ": ", absl::StatusCodeToString(status.code())),
                  absl::StrCat("[coordinator] rejected ", method, " from ", context->peer(), ": ",
                               status.message()));
}

}  // namespace zt::coordinator
