#include "common/error_context.h"

#include <unistd.h>

#include <array>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace zt::common {

std::string HostName() {
  std::array<char, 256> buffer{};
  if (gethostname(buffer.data(), buffer.size() - 1) != 0 || buffer[0] == '\0') {
    return "unknown-host";
  }
  return buffer.data();
}

std::string RankFromEnvironment() {
  for (const char* name : {"RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && value[0] != '\0') return value;
  }
  return "?";
}

std::string ErrorContext(const char* file, int line) {
  return absl::StrCat("host=", HostName(), " rank=", RankFromEnvironment(), " at ", file, ":", line);
}

absl::Status ForeignLibraryError(absl::StatusCode code, absl::string_view library,
                                 absl::string_view call, absl::string_view message,
                                 const char* file, int line) {
  return absl::Status(code, absl::StrCat(library, " error in `", call, "`: ", message, " (",
                                         ErrorContext(file, line), ")"));
}

}  // namespace zt::common
