#include "launch/slurm_hostlist.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace zt::launch {
namespace {

constexpr size_t kMaxHosts = size_t{1} << 16;  // beyond any cluster; bounds memory

absl::Status HostlistError(absl::string_view hostlist, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("Slurm host list '", hostlist, "': ", problem));
}

bool AllDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// "01-03,7" -> {"01", "02", "03", "7"}.
absl::StatusOr<std::vector<std::string>> ExpandRanges(absl::string_view hostlist, absl::string_view ranges) {
  std::vector<std::string> values;
  for (absl::string_view range : absl::StrSplit(ranges, ',')) {
    std::vector<absl::string_view> bounds = absl::StrSplit(range, absl::MaxSplits('-', 1));
    absl::string_view low_text = bounds[0];
    absl::string_view high_text = bounds.size() == 2 ? bounds[1] : bounds[0];
    uint64_t low = 0;
    uint64_t high = 0;
    if (!AllDigits(low_text) || !AllDigits(high_text) || low_text.size() > 18 || high_text.size() > 18 ||
        !absl::SimpleAtoi(low_text, &low) || !absl::SimpleAtoi(high_text, &high)) {
      return HostlistError(hostlist, absl::StrCat("'", range, "' is not a number or a range N-M"));
    }
    if (low > high) return HostlistError(hostlist, absl::StrCat("range '", range, "' is reversed"));
    if (high - low >= kMaxHosts || values.size() + (high - low) >= kMaxHosts) {
      return HostlistError(hostlist, "expands to more than 65536 hosts");
    }
    const int width = static_cast<int>(low_text.size());
    for (uint64_t value = low; value <= high; ++value) values.push_back(absl::StrFormat("%0*d", width, value));
  }
  return values;
}

// One item: literal text and bracket groups, expanded as a product.
absl::Status ExpandItem(absl::string_view hostlist, absl::string_view item, std::vector<std::string>* hosts) {
  std::vector<std::string> partial = {""};
  size_t at = 0;
  while (at < item.size()) {
    size_t open = item.find('[', at);
    absl::string_view literal = item.substr(at, open == absl::string_view::npos ? absl::string_view::npos : open - at);
    if (literal.find(']') != absl::string_view::npos) return HostlistError(hostlist, "']' without '['");
    for (std::string& host : partial) absl::StrAppend(&host, literal);
    if (open == absl::string_view::npos) break;
    size_t close = item.find(']', open);
    if (close == absl::string_view::npos) return HostlistError(hostlist, "'[' without ']'");
    ZT_ASSIGN_OR_RETURN(std::vector<std::string> values,
                        ExpandRanges(hostlist, item.substr(open + 1, close - open - 1)));
    if (partial.size() * values.size() + hosts->size() > kMaxHosts) {
      return HostlistError(hostlist, "expands to more than 65536 hosts");
    }
    std::vector<std::string> next;
    next.reserve(partial.size() * values.size());
    for (const std::string& prefix : partial) {
      for (const std::string& value : values) next.push_back(absl::StrCat(prefix, value));
    }
    partial = std::move(next);
    at = close + 1;
  }
  for (std::string& host : partial) hosts->push_back(std::move(host));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ExpandHostlist(absl::string_view hostlist) {
  std::vector<std::string> hosts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= hostlist.size(); ++i) {
    const char c = i < hostlist.size() ? hostlist[i] : ',';
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (depth < 0 || depth > 1) return HostlistError(hostlist, "unbalanced or nested brackets");
    const bool separator = depth == 0 && (c == ',' || absl::ascii_isspace(static_cast<unsigned char>(c)));
    if (!separator) continue;
    absl::string_view item = hostlist.substr(start, i - start);
    start = i + 1;
    if (!item.empty()) ZT_RETURN_IF_ERROR(ExpandItem(hostlist, item, &hosts));
  }
  if (depth != 0) return HostlistError(hostlist, "'[' without ']'");
  if (hosts.empty()) return HostlistError(hostlist, "no host");
  return hosts;
}

absl::StatusOr<std::vector<int>> ExpandTasksPerNode(absl::string_view value) {
  std::vector<int> counts;
  for (absl::string_view item : absl::StrSplit(value, ',')) {
    int tasks = 0;
    int repeat = 1;
    size_t paren = item.find('(');
    absl::string_view tasks_text = item.substr(0, paren);
    bool ok = absl::SimpleAtoi(tasks_text, &tasks) && tasks > 0;
    if (ok && paren != absl::string_view::npos) {
      absl::string_view rest = item.substr(paren);
      ok = rest.size() > 3 && absl::StartsWith(rest, "(x") && rest.back() == ')' &&
           absl::SimpleAtoi(rest.substr(2, rest.size() - 3), &repeat) && repeat > 0 && repeat <= (1 << 16);
    }
    if (!ok || counts.size() + repeat > kMaxHosts) {
      return absl::InvalidArgumentError(absl::StrCat("SLURM_TASKS_PER_NODE='", value, "': '", item,
                                                     "' is not N or N(xM)"));
    }
    counts.insert(counts.end(), repeat, tasks);
  }
  return counts;
}

}  // namespace zt::launch
