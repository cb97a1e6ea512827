// A running gRPC server hosting one CoordinatorService. Binds `bind_address:port` (port 0 =
// a free port, read back with port()); serves TLS when cert and key files are given (then a
// plaintext client cannot connect; the files are checked first, tls_files.h). Serving
// plaintext on an address other than loopback logs a warning: anyone who can reach the port
// sees the job token and the store. A service with an output_dir gets that folder's lock
// (output_dir_lock.h) before the port is bound and keeps it until the server is destroyed.
// Shutdown() ends waiting RPCs first, then the server.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/coordinator_service.h"
#include "coordinator/output_dir_lock.h"

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

// True for addresses only this machine reaches: 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackAddress(const std::string& address);

// The warning Start() logs for `options` listening on `port`: "" when it serves TLS or only
// loopback, else a line naming the address and the TLS flags.
std::string PlaintextExposureWarning(const ServerOptions& options, int port);

class CoordinatorServer {
 public:
  // Unavailable naming the address when it cannot bind; InvalidArgument for half-given,
  // unreadable or mismatched TLS files (naming the file); FailedPrecondition naming the
  // holder when another job holds the service's output_dir.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(
      const ServerOptions& options, std::unique_ptr<CoordinatorService> service);
  ~CoordinatorServer();

  int port() const { return port_; }
  // "host:port" to hand to clients (the bind address, or 127.0.0.1 for a wildcard bind).
  const std::string& address() const { return address_; }
  // "bind_address:port" as listened on (e.g. 0.0.0.0:5123): what start-up lines report.
  const std::string& bound_address() const { return bound_address_; }
  bool tls() const { return tls_; }
  CoordinatorService& service() { return *service_; }

  void Shutdown(absl::Duration grace = absl::Seconds(2));

 private:
  CoordinatorServer() = default;

  std::unique_ptr<OutputDirLock> output_dir_lock_;  // released after the service is gone
  std::unique_ptr<CoordinatorService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  std::string bound_address_;
  bool tls_ = false;
  bool shut_down_ = false;
};

}  // namespace zt::coordinator
