#include "coordinator/job_file.h"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace zt::coordinator {
namespace {

TEST(JobFileTest, RoundTripsWithThePrivateToken) {
  zt::testing::TempDir dir;
  ASSERT_TRUE(WriteJobFile(dir.path(), JobFile{"127.0.0.1:5000", "j", "ca.pem", "t0k3n"}).ok());
  absl::StatusOr<JobFile> job = ReadJobFile(dir.path());
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->address, "127.0.0.1:5000");
  EXPECT_EQ(job->token, "t0k3n");
  EXPECT_EQ(ClientOptionsFor(*job).tls_ca_file, "ca.pem");
  struct stat info {};
  ASSERT_EQ(stat(dir.Join(".zerotune/token").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  RemoveJobFile(dir.path());
  absl::StatusOr<JobFile> gone = ReadJobFile(dir.path());
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(gone.status().message()), ::testing::HasSubstr("--output_dir"));
}

}  // namespace
}  // namespace zt::coordinator
