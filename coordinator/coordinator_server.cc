#include "coordinator/coordinator_server.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "coordinator/tls_files.h"

namespace zt::coordinator {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, " '", path, "' cannot be read"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "[::1]" → "::1"; anything else as is.
std::string Unbracketed(const std::string& address) {
  if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
    return address.substr(1, address.size() - 2);
  }
  return address;
}

}  // namespace

bool IsLoopbackAddress(const std::string& address) {
  const std::string host = Unbracketed(address);
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) return v6.s6_addr[12] == 127;
  }
  return false;
}

std::string PlaintextExposureWarning(const ServerOptions& options, int port) {
  if (!options.tls_cert_file.empty() || IsLoopbackAddress(options.bind_address)) return "";
  return absl::StrCat("serving plaintext on ", options.bind_address, ":", port,
                      options.bind_address == "0.0.0.0" || options.bind_address == "[::]"
                          ? " (every interface)"
                          : "",
                      ", which other machines can reach: the job token and every stored value "
                      "cross the network unencrypted; give --tls_cert and --tls_key "
                      "(docs/launch.md), or --bind 127.0.0.1 on a single machine");
}

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const ServerOptions& options, std::unique_ptr<CoordinatorService> service) {
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key must be given together (PEM certificate and private key)");
  }
  if (!options.tls_cert_file.empty()) {
    if (absl::Status status = CheckTlsFiles(options.tls_cert_file, options.tls_key_file);
        !status.ok()) {
      return status;
    }
    absl::StatusOr<std::string> cert = ReadPem("--tls_cert", options.tls_cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem("--tls_key", options.tls_key_file);
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    credentials = grpc::SslServerCredentials(ssl);
  }
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer());
  if (!service->output_dir().empty()) {
    absl::StatusOr<std::unique_ptr<OutputDirLock>> lock =
        OutputDirLock::Acquire(service->output_dir(), service->job_id(), absl::Now());
    if (!lock.ok()) return lock.status();
    server->output_dir_lock_ = std::move(*lock);
  }
  grpc::ServerBuilder builder;
  const std::string listen = absl::StrCat(options.bind_address, ":", options.port);
  builder.AddListeningPort(listen, credentials, &server->port_);
  builder.RegisterService(service.get());
  builder.SetMaxReceiveMessageSize(64 << 20);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("coordinator cannot listen on ", listen,
                                               " (address in use or not local?)"));
  }
  server->service_ = std::move(service);
  const std::string host = options.bind_address == "0.0.0.0" || options.bind_address == "[::]"
                               ? "127.0.0.1"
                               : options.bind_address;
  server->address_ = absl::StrCat(host, ":", server->port_);
  server->bound_address_ = absl::StrCat(options.bind_address, ":", server->port_);
  server->tls_ = !options.tls_cert_file.empty();
  if (const std::string warning = PlaintextExposureWarning(options, server->port_);
      !warning.empty()) {
    log::Warn(absl::StrCat("[coordinator] ", warning));
  }
  return server;
}

CoordinatorServer::~CoordinatorServer() { Shutdown(); }

void CoordinatorServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (service_ != nullptr) service_->Shutdown();
  if (server_ != nullptr) {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
  }
}

}  // namespace zt::coordinator
