// Slurm's compressed host lists and task counts, as in SLURM_JOB_NODELIST and
// SLURM_TASKS_PER_NODE, expanded the way `scontrol show hostnames` does.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zt::launch {

// "gnode[10,20,25,37]" -> gnode10 gnode20 gnode25 gnode37; "node[01-03],login1" keeps the
// zero padding of each range's first number (node01 node02 node03 login1); several bracket
// groups in one name expand as a product, leftmost slowest ("r[1-2]n[1-2]" -> r1n1 r1n2 r2n1
// r2n2). Items are separated by commas outside brackets. InvalidArgument naming the list and
// the fault for unbalanced brackets, empty or reversed ranges, non-digits in a range, or more
// than 65536 hosts.
absl::StatusOr<std::vector<std::string>> ExpandHostlist(absl::string_view hostlist);

// "2(x3),1" -> {2, 2, 2, 1}.
absl::StatusOr<std::vector<int>> ExpandTasksPerNode(absl::string_view value);

}  // namespace zt::launch
