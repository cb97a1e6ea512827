// A coordinator on loopback (port 0) for tests, and clients for it.
#pragma once

#include <memory>
#include <string>

#include "coordinator/coordinator_client.h"
#include "coordinator/coordinator_server.h"

namespace zt::coordinator::testing {

struct Harness {
  // Starts a service for `job` with a fresh token on 127.0.0.1:0 (TLS when files given).
  static std::unique_ptr<Harness> Start(JobOptions job, Clock* clock = Clock::Real(),
                                        const std::string& output_dir = "",
                                        ServerOptions server = {});
  // The same for a service configured by hand (its token is replaced by a fresh one).
  static std::unique_ptr<Harness> StartService(ServiceOptions options, Clock* clock = Clock::Real(),
                                               ServerOptions server = {});

  ClientOptions client_options() const;
  std::shared_ptr<CoordinatorClient> NewClient(const std::string& token_override = "") const;

  std::string token;
  std::string tls_ca;
  std::unique_ptr<CoordinatorServer> server;
};

}  // namespace zt::coordinator::testing
