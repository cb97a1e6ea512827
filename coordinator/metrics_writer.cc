#include "coordinator/metrics_writer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace zt::coordinator {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  return text.str();
}

nlohmann::json ToJson(const MetricsRecord& record) {
  nlohmann::json row;
  row["step"] = record.step;
  row["epoch"] = record.epoch;
  row["time"] = absl::ToDoubleSeconds(record.time - absl::UnixEpoch());
  for (const auto& [name, value] : record.values) row[name] = value;
  return row;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsWriter>> MetricsWriter::Open(const std::string& output_dir) {
  std::error_code error;
  std::filesystem::create_directories(output_dir, error);
  if (error) {
    return absl::InvalidArgumentError(absl::StrCat("--output_dir '", output_dir,
                                                   "' cannot be created: ", error.message()));
  }
  std::unique_ptr<MetricsWriter> writer(new MetricsWriter(output_dir));
  // A resumed job keeps the CSV columns and the log history it had.
  const std::string csv = ReadAll(output_dir + "/metrics.csv");
  if (!csv.empty()) {
    writer->csv_columns_ = absl::StrSplit(csv.substr(0, csv.find('\n')), ',');
  }
  const std::string state = ReadAll(output_dir + "/trainer_state.json");
  nlohmann::json json = nlohmann::json::parse(state, nullptr, false);
  if (!json.is_discarded() && json.contains("log_history") && json["log_history"].is_array()) {
    std::vector<std::string> entries;
    for (const nlohmann::json& entry : json["log_history"]) entries.push_back(entry.dump());
    writer->log_history_ = absl::StrJoin(entries, ",");
  }
  return writer;
}

absl::Status MetricsWriter::Append(const MetricsRecord& record) {
  const nlohmann::json row = ToJson(record);
  {
    std::ofstream jsonl(output_dir_ + "/metrics.jsonl", std::ios::app);
    jsonl << row.dump() << "\n";
    if (!jsonl) return absl::InvalidArgumentError(absl::StrCat("cannot append to ", output_dir_, "/metrics.jsonl"));
  }
  std::ofstream csv(output_dir_ + "/metrics.csv", std::ios::app);
  if (csv_columns_.empty()) {
    csv_columns_ = {"step", "epoch", "time"};
    for (const auto& [name, value] : record.values) csv_columns_.push_back(name);
    csv << absl::StrJoin(csv_columns_, ",") << "\n";
  }
  std::vector<std::string> cells;
  for (const std::string& column : csv_columns_) {
    cells.push_back(row.contains(column) ? row[column].dump() : "");
  }
  csv << absl::StrJoin(cells, ",") << "\n";
  if (!csv) return absl::InvalidArgumentError(absl::StrCat("cannot append to ", output_dir_, "/metrics.csv"));
  return WriteTrainerState(record);
}

absl::Status MetricsWriter::WriteTrainerState(const MetricsRecord& record) {
  nlohmann::json entry;
  entry["step"] = record.step;
  entry["epoch"] = record.epoch;
  for (const auto& [name, value] : record.values) {
    entry[name == "learning_rate" || name == "lr" ? "learning_rate" : name] = value;
  }
  if (!log_history_.empty()) log_history_ += ",";
  log_history_ += entry.dump();
  nlohmann::json state;
  state["global_step"] = record.step;
  state["max_steps"] = record.max_steps;
  state["epoch"] = record.epoch;
  state["log_history"] = nlohmann::json::parse(absl::StrCat("[", log_history_, "]"));
  const std::string path = output_dir_ + "/trainer_state.json";
  {
    std::ofstream out(path + ".tmp", std::ios::trunc);
    out << state.dump(2) << "\n";
    if (!out) return absl::InvalidArgumentError(absl::StrCat("cannot write ", path, ".tmp"));
  }
  if (std::rename((path + ".tmp").c_str(), path.c_str()) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot replace ", path));
  }
  return absl::OkStatus();
}

}  // namespace zt::coordinator
