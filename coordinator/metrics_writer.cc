#include "coordinator/metrics_writer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
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

// Replaces `path` by `text` through a temporary file and a rename.
absl::Status ReplaceFile(const std::string& path, const std::string& text) {
  {
    std::ofstream out(path + ".tmp", std::ios::trunc);
    out << text;
    if (!out) return absl::InvalidArgumentError(absl::StrCat("cannot write ", path, ".tmp"));
  }
  if (std::rename((path + ".tmp").c_str(), path.c_str()) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot replace ", path));
  }
  return absl::OkStatus();
}

// The lines of `text` (after `header` lines) whose step, as `step_of` reads it, is below `step`.
std::string LinesBefore(const std::string& text, int header, int64_t step,
                        int64_t (*step_of)(absl::string_view line)) {
  std::string out;
  int index = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (index++ < header || step_of(line) < step) absl::StrAppend(&out, line, "\n");
  }
  return out;
}

int64_t JsonLineStep(absl::string_view line) {
  const nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
  return row.is_object() && row.contains("step") && row["step"].is_number_integer()
             ? row["step"].get<int64_t>()
             : -1;  // kept: not a row of ours
}

int64_t CsvLineStep(absl::string_view line) {
  int64_t step = -1;
  if (!absl::SimpleAtoi(line.substr(0, line.find(',')), &step)) return -1;
  return step;
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
    writer->log_history_ = json["log_history"];
    for (const nlohmann::json& entry : writer->log_history_) {
      if (!entry.is_object() || !entry.contains("step") || !entry["step"].is_number_integer()) {
        continue;
      }
      std::vector<std::string> names;
      for (const auto& [name, value] : entry.items()) {
        if (name != "step" && name != "epoch") names.push_back(name);
      }
      writer->NoteRecorded(entry["step"].get<int64_t>(), names);
    }
  }
  return writer;
}

bool MetricsWriter::Replays(const MetricsRecord& record) const {
  if (record.step < last_step_) return true;
  if (record.step > last_step_) return false;
  for (const auto& [name, value] : record.values) {
    if (last_step_names_.count(name == "lr" ? "learning_rate" : name) > 0) return true;
  }
  return false;
}

void MetricsWriter::NoteRecorded(int64_t step, const std::vector<std::string>& names) {
  if (step != last_step_) last_step_names_.clear();
  last_step_ = step;
  last_step_names_.insert(names.begin(), names.end());
}

absl::Status MetricsWriter::CutBackTo(int64_t step) {
  const std::string jsonl = output_dir_ + "/metrics.jsonl";
  absl::Status status = ReplaceFile(jsonl, LinesBefore(ReadAll(jsonl), 0, step, JsonLineStep));
  if (!status.ok()) return status;
  const std::string csv = output_dir_ + "/metrics.csv";
  status = ReplaceFile(csv, LinesBefore(ReadAll(csv), 1, step, CsvLineStep));
  if (!status.ok()) return status;
  nlohmann::json kept = nlohmann::json::array();
  last_step_ = -1;
  last_step_names_.clear();
  for (const nlohmann::json& entry : log_history_) {
    const int64_t at = entry.value("step", int64_t{-1});
    if (at >= step) continue;
    kept.push_back(entry);
    std::vector<std::string> names;
    for (const auto& [name, value] : entry.items()) names.push_back(name);
    NoteRecorded(at, names);
  }
  log_history_ = std::move(kept);
  return absl::OkStatus();
}

absl::Status MetricsWriter::Append(const MetricsRecord& record) {
  if (Replays(record)) {
    absl::Status cut = CutBackTo(record.step);
    if (!cut.ok()) return cut;
  }
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
  std::vector<std::string> names;
  for (const auto& [name, value] : entry.items()) names.push_back(name);
  NoteRecorded(record.step, names);
  log_history_.push_back(std::move(entry));
  nlohmann::json state;
  state["global_step"] = record.step;
  state["max_steps"] = record.max_steps;
  state["epoch"] = record.epoch;
  state["log_history"] = log_history_;
  return ReplaceFile(output_dir_ + "/trainer_state.json", state.dump(2) + "\n");
}

}  // namespace zt::coordinator
