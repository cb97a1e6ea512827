// What the server says about where it listens: the bound address as given (not the address
// local clients dial), and a warning when it serves plaintext beyond loopback.
#include "coordinator/coordinator_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace zt::coordinator {
namespace {

using ::testing::HasSubstr;

TEST(CoordinatorServerTest, LoopbackAddresses) {
  for (const char* address :
       {"127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(IsLoopbackAddress(address)) << address;
  }
  for (const char* address : {"0.0.0.0", "[::]", "::", "10.0.0.7", "128.0.0.1", "node-1", ""}) {
    EXPECT_FALSE(IsLoopbackAddress(address)) << address;
  }
}

// The finding: `--bind 0.0.0.0` served every interface in plaintext without a word.
TEST(CoordinatorServerTest, PlaintextBeyondLoopbackIsWarnedAbout) {
  ServerOptions every;
  every.bind_address = "0.0.0.0";
  const std::string warning = PlaintextExposureWarning(every, 5123);
  EXPECT_THAT(warning, HasSubstr("plaintext on 0.0.0.0:5123 (every interface)"));
  EXPECT_THAT(warning, HasSubstr("--tls_cert"));
  ServerOptions tls = every;
  tls.tls_cert_file = "cert.pem";
  EXPECT_EQ(PlaintextExposureWarning(tls, 5123), "");
  EXPECT_EQ(PlaintextExposureWarning(ServerOptions(), 5123), "");
}

TEST(CoordinatorServerTest, BoundAddressIsTheListenAddressWithTheRealPort) {
  ServerOptions options;
  options.bind_address = "127.0.0.1";
  absl::StatusOr<std::unique_ptr<CoordinatorServer>> server = CoordinatorServer::Start(
      options, std::make_unique<CoordinatorService>(ServiceOptions(), Clock::Real()));
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->bound_address(), absl::StrCat("127.0.0.1:", (*server)->port()));
  EXPECT_FALSE((*server)->tls());
}

}  // namespace
}  // namespace zt::coordinator
