// Fuzz target: hostfiles are user files; any bytes must parse or fail cleanly.
#include <cstdint>
#include <string>

#include "launch/hostfile.h"
#include "launch/resource_filter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // The first line doubles as an --include value against the rest.
  size_t newline = text.find('\n');
  std::string include = text.substr(0, newline == std::string::npos ? text.size() : newline);
  absl::StatusOr<std::vector<zt::launch::HostSlots>> hosts = zt::launch::ParseHostfile(text, "fuzz");
  if (hosts.ok()) {
    zt::launch::ResourceSelection selection;
    selection.include = include;
    (void)zt::launch::SelectResources(*hosts, selection);
  }
  return 0;
}
