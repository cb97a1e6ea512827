// Fuzz target: host lists and task counts come from the Slurm environment.
#include <cstdint>
#include <string>

#include "launch/slurm_hostlist.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)zt::launch::ExpandHostlist(text);
  (void)zt::launch::ExpandTasksPerNode(text);
  return 0;
}
