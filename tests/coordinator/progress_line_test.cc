#include "coordinator/progress_line.h"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zt::coordinator {
namespace {

proto::GetStatusReply Snapshot(int64_t step) {
  proto::GetStatusReply status;
  status.set_state("running");
  status.set_step(step);
  status.set_max_steps(100);
  status.set_elapsed_seconds(step * 2.0);
  (*status.mutable_latest_metrics())["loss"] = 1.25;
  (*status.mutable_latest_metrics())["learning_rate"] = 3e-4;
  (*status.mutable_latest_metrics())["tokens_per_second"] = 5321;
  return status;
}

TEST(ProgressLineTest, FormatsStepLossLrThroughputAndEta) {
  EXPECT_EQ(FormatProgress(Snapshot(40)),
            "step 40/100 | loss 1.2500 | lr 3.00e-04 | 5321 tok/s | ETA 00:02:00 | running");
}

TEST(ProgressLineTest, RedrawsInPlaceOnATerminalAndThrottlesElsewhere) {
  std::ostringstream terminal;
  ProgressLine live(terminal, /*is_terminal=*/true, absl::ZeroDuration());
  live.Update(Snapshot(1), absl::UnixEpoch());
  live.Update(Snapshot(2), absl::UnixEpoch());
  live.Finish();
  const std::string drawn = terminal.str();
  EXPECT_EQ(std::count(drawn.begin(), drawn.end(), '\r'), 2);
  EXPECT_EQ(drawn.back(), '\n');
  std::ostringstream log;
  ProgressLine lines(log, /*is_terminal=*/false, absl::Seconds(2));
  lines.Update(Snapshot(1), absl::UnixEpoch());
  lines.Update(Snapshot(2), absl::UnixEpoch() + absl::Seconds(1));  // too soon
  lines.Update(Snapshot(3), absl::UnixEpoch() + absl::Seconds(3));
  lines.Update(Snapshot(3), absl::UnixEpoch() + absl::Seconds(9));  // same step
  const std::string printed = log.str();
  EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 2);
  EXPECT_THAT(printed, ::testing::HasSubstr("step 3/100"));
}

}  // namespace
}  // namespace zt::coordinator
