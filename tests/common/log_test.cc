#include "common/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace zt::log {
namespace {

// Every test sees the facility's lines in `out_`, at level info and without a rank prefix, and
// leaves the process's logging as it found it.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_level_ = CurrentLevel();
    SetOutputForTesting(&out_);
    SetLevel(Level::kInfo);
    SetRank(-1);
  }
  void TearDown() override {
    SetOutputForTesting(nullptr);
    SetLevel(saved_level_);
    SetRank(-1);
  }

  std::ostringstream out_;
  Level saved_level_ = Level::kInfo;
};

TEST_F(LogTest, InfoIsTheBareMessageWarnAndErrorSayTheirLevel) {
  Info("[launcher] job 'j' SUCCEEDED at step 4 after 0 restart(s)");
  Warn("[coordinator] withdrew 'h' device 0");
  Error("zerotune-worker train: no such folder");
  EXPECT_EQ(out_.str(),
            "[launcher] job 'j' SUCCEEDED at step 4 after 0 restart(s)\n"
            "warning: [coordinator] withdrew 'h' device 0\n"
            "error: zerotune-worker train: no such folder\n");
}

TEST_F(LogTest, LinesBelowTheThresholdAreDropped) {
  Debug("hidden at info");
  EXPECT_EQ(out_.str(), "");
  EXPECT_FALSE(Enabled(Level::kDebug));
  EXPECT_TRUE(Enabled(Level::kInfo));

  SetLevel(Level::kDebug);
  Debug("shown");
  EXPECT_EQ(out_.str(), "debug: shown\n");

  out_.str("");
  SetLevel(Level::kWarn);
  Info("hidden at warn");
  Warn("kept");
  Error("kept too");
  EXPECT_EQ(out_.str(), "warning: kept\nerror: kept too\n");

  out_.str("");
  SetLevel(Level::kOff);
  Error("nothing at off");
  Log(Level::kOff, "never a line");
  EXPECT_EQ(out_.str(), "");
  EXPECT_FALSE(Enabled(Level::kError));
}

TEST_F(LogTest, RankPrefixStartsEveryLineOnceSet) {
  Info("before");
  SetRank(3);
  Info("training done: 4 steps");
  Error("zerotune-worker train: bad");
  SetRank(-1);
  Info("after");
  EXPECT_EQ(out_.str(),
            "before\n"
            "[rank 3] training done: 4 steps\n"
            "[rank 3] error: zerotune-worker train: bad\n"
            "after\n");
}

// A failure report arrives with its own last newline: one newline ends the event, not two.
TEST_F(LogTest, AMultiLineEventEndsWithOneNewline) {
  Error("job 'j' failed (1 failure(s) in generation 0)\nRoot Cause (first observed failure):\n");
  Info("");
  EXPECT_EQ(out_.str(),
            "error: job 'j' failed (1 failure(s) in generation 0)\n"
            "Root Cause (first observed failure):\n"
            "\n");
}

TEST_F(LogTest, ConcurrentLinesAreNeverInterleaved) {
  SetRank(1);
  constexpr int kThreads = 8;
  constexpr int kLines = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLines; ++i)
        Info(absl::StrCat("thread ", t, " line ", i, " ", std::string(64, 'x')));
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::vector<std::string> lines = absl::StrSplit(out_.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLines));
  for (const std::string& line : lines) {
    EXPECT_THAT(line, ::testing::MatchesRegex(R"(\[rank 1\] thread [0-7] line [0-9]+ x{64})"))
        << line;
  }
}

TEST(LogLevelTest, ParsesTheNamesOfZerotuneLogLevel) {
  struct Case {
    const char* text;
    std::optional<Level> level;
  };
  const Case cases[] = {
      {"debug", Level::kDebug},  {"INFO", Level::kInfo},    {"warn", Level::kWarn},
      {"Warning", Level::kWarn}, {"error", Level::kError},  {"off", Level::kOff},
      {"", std::nullopt},        {"verbose", std::nullopt}, {"info ", std::nullopt},
  };
  for (const Case& c : cases) EXPECT_EQ(ParseLevel(c.text), c.level) << "'" << c.text << "'";
}

}  // namespace
}  // namespace zt::log
