// `zerotune status --job_dir DIR` and `zerotune stop --job_dir DIR [--checkpoint]` for a job
// started elsewhere (`zerotune launch --output_dir DIR` or `zerotune serve --job_dir DIR`).
// status prints the progress line, one line per rank (host, device, pid, step, heartbeat age)
// and the failure report if any; stop aborts the job, or with --checkpoint makes every rank
// checkpoint at the next step and exit. Exit 1 when the job cannot be reached.
#pragma once

#include <iosfwd>
#include <string>

#include "CLI/App.hpp"

namespace zt::coordinator {

int RunStatus(const std::string& job_dir, std::ostream& out, std::ostream& err);
int RunStop(const std::string& job_dir, bool checkpoint, std::ostream& out, std::ostream& err);

void AddStatusCommand(CLI::App& app);
void AddStopCommand(CLI::App& app);

}  // namespace zt::coordinator
