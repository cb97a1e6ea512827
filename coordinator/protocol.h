// The wire conventions every coordinator client and the service share: protocol version,
// token metadata, exit codes a rank uses to tell the launcher why it stopped, and the
// absl::Status <-> grpc::Status mapping (the codes are the same numbers by design).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "launch/rank_environment.h"

namespace grpc {
class Status;
}  // namespace grpc

namespace zt::proto {
class Header;
}  // namespace zt::proto

namespace zt::coordinator {

// Must equal zt.proto.PROTOCOL_VERSION_CURRENT; a static_assert in protocol.cc pins it.
inline constexpr uint32_t kProtocolVersion = 1;

// The call metadata key carrying the per-job token (lower case, as HTTP/2 requires).
inline constexpr char kTokenMetadataKey[] = "zt-token";

// Environment variables of the worker contract, which the launchers set.
using launch::kEnvCoordinator;
using launch::kEnvHost;
using launch::kEnvTlsCa;
using launch::kEnvToken;

// Exit codes of a rank process, read by the launcher.
inline constexpr int kExitBadInput = 2;          // refused its flags, files or config
inline constexpr int kExitPreempted = 75;        // checkpointed on request, then stopped
inline constexpr int kExitAborted = 76;          // told to abort because a peer failed
inline constexpr int kExitCoordinatorLost = 79;  // no coordinator for a heartbeat timeout

// FailedPrecondition naming both versions when `header` speaks another protocol version;
// InvalidArgument when it carries none.
absl::Status CheckProtocolVersion(const proto::Header& header);

// Fills `header` for a caller of `generation` and `rank` (-1 when it has none).
void FillHeader(int64_t generation, int rank, proto::Header* header);

absl::Status FromGrpcStatus(const grpc::Status& status);
grpc::Status ToGrpcStatus(const absl::Status& status);

// 32 random bytes from the OS as 64 hex digits.
std::string GenerateToken();

// Constant-time comparison of two tokens.
bool TokensEqual(absl::string_view a, absl::string_view b);

}  // namespace zt::coordinator
