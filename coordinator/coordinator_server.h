// A running gRPC server hosting one CoordinatorService. Binds `bind_address:port` (port 0 =
// a free port, read back with port()); serves TLS when cert and key files are given (then a
// plaintext client cannot connect). Shutdown() ends waiting RPCs first, then the server.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/coordinator_service.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace zt::coordinator {

struct ServerOptions {
  std::string bind_address = "127.0.0.1";  // listen on loopback unless told otherwise
  int port = 0;
  std::string tls_cert_file;  // PEM; with tls_key_file enables TLS
  std::string tls_key_file;
};

class CoordinatorServer {
 public:
  // Unavailable naming the address when it cannot bind; InvalidArgument for unreadable or
  // half-given TLS files.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(
      const ServerOptions& options, std::unique_ptr<CoordinatorService> service);
  ~CoordinatorServer();

  int port() const { return port_; }
  // "host:port" to hand to clients (the bind address, or 127.0.0.1 for a wildcard bind).
  const std::string& address() const { return address_; }
  CoordinatorService& service() { return *service_; }

  void Shutdown(absl::Duration grace = absl::Seconds(2));

 private:
  CoordinatorServer() = default;

  std::unique_ptr<CoordinatorService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  bool shut_down_ = false;
};

}  // namespace zt::coordinator
