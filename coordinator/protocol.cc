#include "coordinator/protocol.h"

#include <grpcpp/support/status.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "proto/zerotune.pb.h"

namespace zt::coordinator {

static_assert(kProtocolVersion == proto::PROTOCOL_VERSION_CURRENT,
              "kProtocolVersion must follow zerotune.proto");

absl::Status CheckProtocolVersion(const proto::Header& header) {
  if (header.protocol_version() == 0) {
    return absl::InvalidArgumentError(
        "request carries no protocol_version header; the client is not a zerotune client");
  }
  if (header.protocol_version() != kProtocolVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "protocol version mismatch: client speaks ", header.protocol_version(),
        ", this coordinator speaks ", kProtocolVersion,
        "; run the same zerotune version on every node"));
  }
  return absl::OkStatus();
}

void FillHeader(int64_t generation, int rank, proto::Header* header) {
  header->set_protocol_version(kProtocolVersion);
  header->set_generation(generation);
  header->set_rank(rank);
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

std::string GenerateToken() {
  std::random_device device;  // /dev/urandom on Linux
  std::string token;
  token.reserve(64);
  for (int i = 0; i < 8; ++i) {
    absl::StrAppend(&token, absl::Hex(device(), absl::kZeroPad8));
  }
  return token;
}

bool TokensEqual(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace zt::coordinator
