#include "coordinator/store_limit_flags.h"

#include <CLI/CLI.hpp>

namespace zt::coordinator {

void AddStoreLimitOptions(CLI::App* command, KvLimits* limits) {
  command
      ->add_option("--store_max_value_bytes", limits->max_value_bytes,
                   "largest value a rank may store in the coordinator (bytes; default 4 MiB)")
      ->check(CLI::PositiveNumber);
  command
      ->add_option("--store_max_total_bytes", limits->max_total_bytes,
                   "bytes the coordinator's store may hold in all (default 256 MiB)")
      ->check(CLI::PositiveNumber);
}

}  // namespace zt::coordinator
