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
  // The message once, the error file as a path (torchrun's report shape).
  EXPECT_THAT(report, HasSubstr("message   : boom"));
  EXPECT_EQ(report.find("boom"), report.rfind("boom"));
  EXPECT_THAT(report, HasSubstr("error_file: <N/A> (reported to the coordinator)"));
  failure.error_file = "/out/.zerotune/errors/rank3.json";
  EXPECT_THAT(FormatFailureReport("j", failure, 2),
              HasSubstr("error_file: /out/.zerotune/errors/rank3.json\n"));
  failure.error_json.clear();
  failure.error_file.clear();
  EXPECT_THAT(FormatFailureReport("j", failure, 2), HasSubstr("error_file: <N/A>\n"));
  EXPECT_EQ(DescribeExit(3, std::nullopt), "exitcode 3");
}

// Whole seconds cannot order failures milliseconds apart: the files carry microseconds too,
// and a torchrun-written whole-second stamp counts as the latest time it allows.
TEST(FailureReportTest, TimestampsKeepMicrosecondsAndWholeSecondsAreUpperBounds) {
  const absl::Time when = absl::FromUnixMicros(int64_t{1700000000} * 1000000 + 250000);
  absl::StatusOr<ErrorFileContent> ours = ParseErrorFileJson(MakeErrorFileJson("m", "", when));
  ASSERT_TRUE(ours.ok()) << ours.status();
  EXPECT_TRUE(ours->precise);
  EXPECT_EQ(*ours->timestamp, when);
  EXPECT_EQ(LatestFailureTime(*ours, when + absl::Seconds(3)), when);
  absl::StatusOr<ErrorFileContent> torchrun = ParseErrorFileJson(
      R"({"message": {"message": "m", "extraInfo": {"py_callstack": "", "timestamp": "1700000000"}}})");
  ASSERT_TRUE(torchrun.ok());
  EXPECT_FALSE(torchrun->precise);
  const absl::Time second = absl::FromUnixSeconds(1700000000);
  EXPECT_EQ(LatestFailureTime(*torchrun, second + absl::Seconds(5)),
            second + absl::Seconds(1) - absl::Nanoseconds(1));
  EXPECT_EQ(LatestFailureTime(*torchrun, second + absl::Milliseconds(300)),
            second + absl::Milliseconds(300));
}

}  // namespace
}  // namespace zt::coordinator
