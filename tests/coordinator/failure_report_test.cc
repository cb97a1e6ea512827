#include "coordinator/failure_report.h"

#include <csignal>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zt::coordinator {
namespace {

using ::testing::HasSubstr;

TEST(FailureReportTest, ErrorFileRoundTripsInTorchrunShape) {
  const absl::Time when = absl::FromUnixSeconds(1700000000);
  const std::string json = MakeErrorFileJson("CUDA out of memory", "trace", when);
  EXPECT_THAT(json, HasSubstr("\"extraInfo\""));
  EXPECT_THAT(json, HasSubstr("\"timestamp\":\"1700000000\""));
  absl::StatusOr<ErrorFileContent> content = ParseErrorFileJson(json);
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_EQ(content->message, "CUDA out of memory");
  EXPECT_EQ(*content->timestamp, when);
}

TEST(FailureReportTest, NotTorchrunShapeIsInvalidArgument) {
  EXPECT_EQ(ParseErrorFileJson("[1]").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseErrorFileJson("{oops").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FailureReportTest, ReportNamesRankHostSignalAndMessage) {
  RankFailure failure;
  failure.rank = 3;
  failure.host = "node7";
  failure.pid = 4242;
  failure.signal = SIGKILL;
  failure.time = absl::FromUnixSeconds(1700000000);
  failure.reason = "process exited";
  failure.error_json = MakeErrorFileJson("boom", "", failure.time);
  const std::string report = FormatFailureReport("j", failure, 2);
  EXPECT_THAT(report, HasSubstr("Root Cause (first observed failure)"));
  EXPECT_THAT(report, HasSubstr("rank      : 3"));
  EXPECT_THAT(report, HasSubstr("host      : node7"));
  EXPECT_THAT(report, HasSubstr("Signal 9 (SIGKILL) (pid: 4242)"));
  EXPECT_THAT(report, HasSubstr("error_file: boom"));
  EXPECT_EQ(DescribeExit(3, std::nullopt), "exitcode 3");
}

}  // namespace
}  // namespace zt::coordinator
