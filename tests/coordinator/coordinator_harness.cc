#include "tests/coordinator/coordinator_harness.h"

#include <gtest/gtest.h>

#include "coordinator/protocol.h"

namespace zt::coordinator::testing {

std::unique_ptr<Harness> Harness::Start(JobOptions job, Clock* clock, const std::string& output_dir,
                                        ServerOptions server) {
  ServiceOptions options;
  options.job = std::move(job);
  options.output_dir = output_dir;
  options.log_rejections = false;
  return StartService(std::move(options), clock, std::move(server));
}

std::unique_ptr<Harness> Harness::StartService(ServiceOptions options, Clock* clock,
                                               ServerOptions server) {
  auto harness = std::make_unique<Harness>();
  harness->token = GenerateToken();
  harness->tls_ca = server.tls_cert_file;
  options.token = harness->token;
  absl::StatusOr<std::unique_ptr<CoordinatorServer>> started =
      CoordinatorServer::Start(server, std::make_unique<CoordinatorService>(options, clock));
  EXPECT_TRUE(started.ok()) << started.status();
  if (!started.ok()) return nullptr;
  harness->server = std::move(*started);
  return harness;
}

ClientOptions Harness::client_options() const {
  ClientOptions options;
  options.address = server->address();
  options.token = token;
  options.tls_ca_file = tls_ca;
  options.rpc_timeout = absl::Seconds(10);
  return options;
}

std::shared_ptr<CoordinatorClient> Harness::NewClient(const std::string& token_override) const {
  ClientOptions options = client_options();
  if (!token_override.empty()) options.token = token_override;
  absl::StatusOr<std::unique_ptr<CoordinatorClient>> client = CoordinatorClient::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::shared_ptr<CoordinatorClient>(std::move(*client)) : nullptr;
}

}  // namespace zt::coordinator::testing
