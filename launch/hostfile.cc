#include "launch/hostfile.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace zt::launch {
namespace {

constexpr int kMaxSlots = 1 << 16;

bool IsSpace(char c) { return absl::ascii_isspace(static_cast<unsigned char>(c)); }

absl::Status LineError(absl::string_view path, int line_number, absl::string_view line,
                       absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": ", problem, ": '", line,
                                                 "' (expected 'HOST slots=N', as DeepSpeed's hostfile)"));
}

}  // namespace

absl::StatusOr<std::vector<HostSlots>> ParseHostfile(absl::string_view text, absl::string_view path) {
  std::vector<HostSlots> hosts;
  absl::flat_hash_map<std::string, int> first_line;
  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line.front() == '#') continue;
    size_t host_end = 0;
    while (host_end < line.size() && !IsSpace(line[host_end])) ++host_end;
    size_t slots_at = host_end;
    while (slots_at < line.size() && IsSpace(line[slots_at])) ++slots_at;
    if (slots_at == host_end || !absl::StartsWith(line.substr(slots_at), "slots=")) {
      return LineError(path, line_number, line, "bad entry");
    }
    size_t digits_at = slots_at + 6;
    size_t digits_end = digits_at;
    while (digits_end < line.size() && absl::ascii_isdigit(static_cast<unsigned char>(line[digits_end]))) {
      ++digits_end;
    }
    int slots = 0;
    if (digits_end == digits_at || digits_end - digits_at > 6 ||
        !absl::SimpleAtoi(line.substr(digits_at, digits_end - digits_at), &slots)) {
      return LineError(path, line_number, line, "bad slot count");
    }
    if (slots <= 0 || slots > kMaxSlots) {
      return LineError(path, line_number, line, absl::StrCat("slots must be 1..", kMaxSlots));
    }
    std::string host(line.substr(0, host_end));
    auto [it, inserted] = first_line.emplace(host, line_number);
    if (!inserted) {
      return LineError(path, line_number, line,
                       absl::StrCat("host '", host, "' is already listed on line ", it->second));
    }
    hosts.push_back({std::move(host), slots});
  }
  if (hosts.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the hostfile lists no host (expected lines 'HOST slots=N')"));
  }
  return hosts;
}

absl::StatusOr<std::vector<HostSlots>> ReadHostfile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read hostfile '", path, "': ", std::strerror(errno)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseHostfile(buffer.str(), path);
}

}  // namespace zt::launch
