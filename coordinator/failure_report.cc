#include "coordinator/failure_report.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace zt::coordinator {

std::string MakeErrorFileJson(const std::string& message, const std::string& callstack,
                              absl::Time when) {
  nlohmann::json json;
  json["message"]["message"] = message;
  json["message"]["extraInfo"]["py_callstack"] = callstack;
  json["message"]["extraInfo"]["timestamp"] = absl::StrCat(absl::ToUnixSeconds(when));
  json["message"]["extraInfo"]["timestamp_us"] = absl::StrCat(absl::ToUnixMicros(when));
  return json.dump();
}

absl::Status WriteErrorFile(const std::string& path, const std::string& json) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << json;
    if (!out) return absl::InvalidArgumentError(absl::StrCat("cannot write error file '", temporary, "'"));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot rename '", temporary, "' to '", path, "': ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ErrorFileContent> ParseErrorFileJson(const std::string& text) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object() || !json.contains("message")) {
    return absl::InvalidArgumentError(
        "error file is not torchrun's JSON shape {\"message\": {\"message\": ..., \"extraInfo\": ...}}");
  }
  ErrorFileContent content;
  const nlohmann::json& message = json["message"];
  if (message.is_string()) {
    content.message = message.get<std::string>();
    return content;
  }
  if (!message.is_object()) return absl::InvalidArgumentError("error file: 'message' is neither text nor an object");
  if (message.contains("message") && message["message"].is_string()) {
    content.message = message["message"].get<std::string>();
  }
  if (message.contains("extraInfo") && message["extraInfo"].is_object() &&
      message["extraInfo"].contains("timestamp")) {
    const nlohmann::json& stamp = message["extraInfo"]["timestamp"];
    int64_t seconds = 0;
    if (stamp.is_string() && absl::SimpleAtoi(stamp.get<std::string>(), &seconds)) {
      content.timestamp = absl::FromUnixSeconds(seconds);
    } else if (stamp.is_number_integer()) {
      content.timestamp = absl::FromUnixSeconds(stamp.get<int64_t>());
    }
  }
  if (content.timestamp && message["extraInfo"].contains("timestamp_us")) {
    const nlohmann::json& micros = message["extraInfo"]["timestamp_us"];
    int64_t us = 0;
    if (micros.is_string() && absl::SimpleAtoi(micros.get<std::string>(), &us)) {
      const absl::Time precise = absl::FromUnixMicros(us);
      // Only a refinement of the whole-second stamp counts (a hand-edited file may disagree).
      if (absl::ToUnixSeconds(precise) == absl::ToUnixSeconds(*content.timestamp)) {
        content.timestamp = precise;
        content.precise = true;
      }
    }
  }
  return content;
}

absl::Time LatestFailureTime(const ErrorFileContent& content, absl::Time observed) {
  if (!content.timestamp) return observed;
  if (content.precise) return *content.timestamp;
  return std::min(observed, *content.timestamp + absl::Seconds(1) - absl::Nanoseconds(1));
}

std::string DescribeExit(std::optional<int> exit_code, std::optional<int> signal) {
  if (signal) {
    const char* name = sigabbrev_np(*signal);
    return absl::StrCat("Signal ", *signal, " (SIG", name != nullptr ? name : "?", ")");
  }
  if (exit_code) return absl::StrCat("exitcode ", *exit_code);
  return "still running";
}

std::string FormatFailureReport(const std::string& job_id, const RankFailure& root,
                                int failures_in_generation) {
  std::string report = absl::StrCat("job '", job_id, "' failed (", failures_in_generation,
                                    " failure(s) in generation ", root.generation, ")\n");
  absl::StrAppend(&report, "Root Cause (first observed failure):\n");
  absl::StrAppend(&report, "  time      : ", absl::FormatTime("%Y-%m-%d_%H:%M:%S", root.time, absl::UTCTimeZone()), "\n");
  absl::StrAppend(&report, "  host      : ", root.host.empty() ? "?" : root.host, "\n");
  absl::StrAppend(&report, "  rank      : ", root.rank, "\n");
  absl::StrAppend(&report, "  exitcode  : ", DescribeExit(root.exit_code, root.signal),
                  root.pid != 0 ? absl::StrCat(" (pid: ", root.pid, ")") : "", "\n");
  absl::StrAppend(&report, "  reason    : ", root.reason, "\n");
  if (!root.error_json.empty()) {
    absl::StatusOr<ErrorFileContent> content = ParseErrorFileJson(root.error_json);
    absl::StrAppend(&report, "  message   : ", content.ok() ? content->message : root.error_json,
                    "\n");
  }
  absl::StrAppend(&report, "  error_file: ",
                  !root.error_file.empty()  ? root.error_file
                  : root.error_json.empty() ? "<N/A>"
                                            : "<N/A> (reported to the coordinator)",
                  "\n");
  return report;
}

}  // namespace zt::coordinator
