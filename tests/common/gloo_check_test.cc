#include "common/gloo_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zt::common {
namespace {

using ::testing::HasSubstr;

absl::Status ThrowIo() {
  ZT_GLOO_RETURN_IF_ERROR(throw ::gloo::IoException("Timed out waiting 30000ms for recv"));
  return absl::OkStatus();
}

absl::Status ThrowEnforce() {
  ZT_GLOO_RETURN_IF_ERROR(throw ::gloo::EnforceNotMet(__FILE__, __LINE__, "1 == 2", "sizes differ"));
  return absl::OkStatus();
}

TEST(GlooCheckTest, IoErrorsAreAbortedWithGloosMessage) {
  absl::Status status = ThrowIo();
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("Gloo error in"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("Timed out waiting 30000ms for recv"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("gloo_check_test.cc:"));
}

TEST(GlooCheckTest, EnforceFailuresAreInternal) {
  absl::Status status = ThrowEnforce();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()), HasSubstr("sizes differ"));
}

}  // namespace
}  // namespace zt::common
