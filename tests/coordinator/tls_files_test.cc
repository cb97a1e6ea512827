// TLS files are checked before the server starts, so a bad certificate or a key of another
// certificate is reported as such, naming the file (not as "cannot listen").
#include "coordinator/tls_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "coordinator/coordinator_server.h"
#include "tests/support/temp_dir.h"

namespace zt::coordinator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Writes a self-signed pair `name`.pem / `name`.key into `dir`; false without openssl.
bool MakePair(const zt::testing::TempDir& dir, const std::string& name) {
  const std::string command =
      absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout ",
                   dir.Join(name + ".key"), " -out ", dir.Join(name + ".pem"), " >/dev/null 2>&1");
  return std::system(command.c_str()) == 0;
}

class TlsFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MakePair(dir_, "a") || !MakePair(dir_, "b")) GTEST_SKIP() << "openssl is not installed";
  }
  zt::testing::TempDir dir_;
};

TEST_F(TlsFilesTest, MatchingPairIsAccepted) {
  EXPECT_TRUE(CheckTlsFiles(dir_.Join("a.pem"), dir_.Join("a.key")).ok());
}

TEST_F(TlsFilesTest, KeyOfAnotherCertificateNamesBothFiles) {
  absl::Status status = CheckTlsFiles(dir_.Join("a.pem"), dir_.Join("b.key"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(absl::StrCat("--tls_key '", dir_.Join("b.key"), "' does not belong")));
  EXPECT_THAT(std::string(status.message()), HasSubstr(dir_.Join("a.pem")));
}

TEST_F(TlsFilesTest, GarbageCertificateAndKeyAreNamed) {
  std::ofstream(dir_.Join("junk.pem")) << "not a certificate\n";
  absl::Status cert = CheckTlsFiles(dir_.Join("junk.pem"), dir_.Join("a.key"));
  EXPECT_EQ(cert.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(cert.message()),
      HasSubstr(absl::StrCat("--tls_cert '", dir_.Join("junk.pem"), "' is not a PEM certificate")));
  absl::Status key = CheckTlsFiles(dir_.Join("a.pem"), dir_.Join("junk.pem"));
  EXPECT_THAT(std::string(key.message()), HasSubstr("is not an unencrypted PEM private key"));
  absl::Status missing = CheckTlsFiles(dir_.Join("none.pem"), dir_.Join("a.key"));
  EXPECT_THAT(std::string(missing.message()), HasSubstr("cannot be read"));
}

// The finding: the server reported a mismatched pair as "cannot listen on 127.0.0.1:0".
TEST_F(TlsFilesTest, ServerStartReportsTheCertificateErrorNotTheAddress) {
  ServerOptions server;
  server.tls_cert_file = dir_.Join("a.pem");
  server.tls_key_file = dir_.Join("b.key");
  absl::StatusOr<std::unique_ptr<CoordinatorServer>> started = CoordinatorServer::Start(
      server, std::make_unique<CoordinatorService>(ServiceOptions(), Clock::Real()));
  EXPECT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(started.status().message()), HasSubstr("does not belong"));
  EXPECT_THAT(std::string(started.status().message()), Not(HasSubstr("cannot listen")));
}

}  // namespace
}  // namespace zt::coordinator
