#include "sharding/collectives/comm_watchdog.h"

#include <gtest/gtest.h>

#include <atomic>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace zt::sharding {
namespace {

struct AbortRecorder {
  absl::Notification fired;
  absl::Status reason;
  std::atomic<int> calls{0};

  CommWatchdog::Hooks Hooks(std::function<absl::Status()> poll) {
    return {std::move(poll), [this](absl::Status status) {
              reason = std::move(status);
              if (calls.fetch_add(1) == 0) fired.Notify();
            }};
  }
};

TEST(CommWatchdogTest, AnAsyncErrorFiresAbortOnceWithTheBackendsReason) {
  AbortRecorder recorder;
  std::atomic<int> polls{0};
  {
    CommWatchdog watchdog("nccl rank 1/2", absl::Milliseconds(2), recorder.Hooks([&] {
      return ++polls < 4 ? absl::OkStatus() : absl::AbortedError("ncclRemoteError: socket closed");
    }));
    ASSERT_TRUE(recorder.fired.WaitForNotificationWithTimeout(absl::Seconds(10)));
    absl::SleepFor(absl::Milliseconds(30));
    EXPECT_TRUE(watchdog.fired());
  }
  EXPECT_EQ(recorder.calls.load(), 1);
  EXPECT_EQ(recorder.reason.code(), absl::StatusCode::kAborted);
  EXPECT_NE(recorder.reason.message().find("socket closed"), std::string::npos) << recorder.reason;
  EXPECT_NE(recorder.reason.message().find("nccl rank 1/2"), std::string::npos) << recorder.reason;
  EXPECT_GE(polls.load(), 4);
}

TEST(CommWatchdogTest, AnOpStillRunningAtItsDeadlineFiresDeadlineExceededNamingIt) {
  AbortRecorder recorder;
  CommWatchdog watchdog("nccl rank 0/2", absl::Milliseconds(2),
                        recorder.Hooks([] { return absl::OkStatus(); }));
  const absl::Time start = absl::Now();
  watchdog.Track("all_reduce #3 sum Float[1024]", start + absl::Milliseconds(50),
                 [] { return false; });
  ASSERT_TRUE(recorder.fired.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(recorder.reason.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(recorder.reason.message().find("all_reduce #3 sum Float[1024]"), std::string::npos)
      << recorder.reason;
}

TEST(CommWatchdogTest, OpsThatFinishInTimeNeverFire) {
  AbortRecorder recorder;
  std::atomic<bool> slow_done{false};
  CommWatchdog watchdog("nccl rank 0/2", absl::Milliseconds(2),
                        recorder.Hooks([] { return absl::OkStatus(); }));
  watchdog.Track("finished", absl::Now() + absl::Milliseconds(5), [] { return true; });
  watchdog.Track("finishes late but in time", absl::Now() + absl::Milliseconds(300),
                 [&] { return slow_done.load(); });
  absl::SleepFor(absl::Milliseconds(100));
  slow_done = true;
  absl::SleepFor(absl::Milliseconds(400));
  EXPECT_FALSE(watchdog.fired());
  EXPECT_EQ(recorder.calls.load(), 0);
}

TEST(CommWatchdogTest, DestructionDoesNotWaitForTheInterval) {
  AbortRecorder recorder;
  const absl::Time start = absl::Now();
  { CommWatchdog watchdog("idle", absl::Hours(1), recorder.Hooks(nullptr)); }
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

}  // namespace
}  // namespace zt::sharding
