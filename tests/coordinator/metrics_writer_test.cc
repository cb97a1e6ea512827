#include "coordinator/metrics_writer.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.h"

namespace zt::coordinator {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

MetricsRecord Record(int64_t step, double loss) {
  MetricsRecord record;
  record.step = step;
  record.max_steps = 10;
  record.epoch = step / 10.0;
  record.time = absl::FromUnixSeconds(1700000000 + step);
  record.values = {{"loss", loss}, {"learning_rate", 0.001}};
  return record;
}

TEST(MetricsWriterTest, WritesJsonlCsvAndTrainerStateAndResumes) {
  zt::testing::TempDir dir;
  {
    auto writer = *MetricsWriter::Open(dir.path());
    ASSERT_TRUE(writer->Append(Record(1, 2.5)).ok());
    ASSERT_TRUE(writer->Append(Record(2, 2.0)).ok());
  }
  {
    auto resumed = *MetricsWriter::Open(dir.path());
    ASSERT_TRUE(resumed->Append(Record(3, 1.5)).ok());
  }
  std::istringstream jsonl(Slurp(dir.Join("metrics.jsonl")));
  std::string line;
  int rows = 0;
  while (std::getline(jsonl, line)) {
    nlohmann::json row = nlohmann::json::parse(line);
    ++rows;
    EXPECT_EQ(row["step"], rows);
  }
  EXPECT_EQ(rows, 3);
  const std::string csv = Slurp(dir.Join("metrics.csv"));
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "step,epoch,time,learning_rate,loss");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);  // one header, three rows
  nlohmann::json state = nlohmann::json::parse(Slurp(dir.Join("trainer_state.json")));
  EXPECT_EQ(state["global_step"], 3);
  EXPECT_EQ(state["max_steps"], 10);
  ASSERT_EQ(state["log_history"].size(), 3u);
  EXPECT_EQ(state["log_history"][2]["loss"], 1.5);
}

std::vector<int64_t> JsonlSteps(const std::string& path) {
  std::istringstream jsonl(Slurp(path));
  std::vector<int64_t> steps;
  for (std::string line; std::getline(jsonl, line);) {
    steps.push_back(nlohmann::json::parse(line)["step"].get<int64_t>());
  }
  return steps;
}

// A job restarted from checkpoint-2 after it logged steps 1-4 replays steps 3 and 4: the files
// are cut back to the checkpoint's steps, as HF's resumed log_history, so no step shows twice.
// An eval record at a step already logged (another value name) is no replay.
TEST(MetricsWriterTest, AReplayAfterARestartCutsTheFilesBackToTheCheckpoint) {
  zt::testing::TempDir dir;
  {
    auto writer = *MetricsWriter::Open(dir.path());
    for (int64_t step = 1; step <= 4; ++step) ASSERT_TRUE(writer->Append(Record(step, 3.0 - step / 2.0)).ok());
    MetricsRecord eval = Record(4, 0);
    eval.values = {{"eval_loss", 1.25}};
    ASSERT_TRUE(writer->Append(eval).ok());
  }
  auto restarted = *MetricsWriter::Open(dir.path());
  ASSERT_TRUE(restarted->Append(Record(3, 1.4)).ok());
  ASSERT_TRUE(restarted->Append(Record(4, 1.1)).ok());
  EXPECT_EQ(JsonlSteps(dir.Join("metrics.jsonl")), (std::vector<int64_t>{1, 2, 3, 4}));
  const std::string csv = Slurp(dir.Join("metrics.csv"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);  // the header and steps 1-4
  nlohmann::json state = nlohmann::json::parse(Slurp(dir.Join("trainer_state.json")));
  ASSERT_EQ(state["log_history"].size(), 4u);
  EXPECT_EQ(state["log_history"][2]["loss"], 1.4);
  EXPECT_EQ(state["log_history"][3]["loss"], 1.1);
  EXPECT_EQ(state["global_step"], 4);
}

}  // namespace
}  // namespace zt::coordinator
