// The flags that set the coordinator store's memory caps (KvLimits), shared by `zerotune
// launch` and `zerotune serve` so both spell and check them the same way.
#pragma once

#include "CLI/App.hpp"
#include "coordinator/kv_table.h"

namespace zt::coordinator {

// Adds --store_max_value_bytes and --store_max_total_bytes (positive byte counts; defaults
// from KvLimits) writing into `limits`, which must outlive the parse.
void AddStoreLimitOptions(CLI::App* command, KvLimits* limits);

}  // namespace zt::coordinator
