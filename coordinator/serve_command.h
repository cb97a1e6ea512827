// `zerotune serve --world_size N [--bind ADDR] [--port P] --job_dir DIR`: the coordinator
// alone, for ranks started by something else (sbatch/srun, mpirun, by hand). Prints the
// address; the token goes to DIR/.zerotune/token (mode 0600) — ranks need ZEROTUNE_COORDINATOR
// and ZEROTUNE_TOKEN. It cannot restart ranks it did not start: a failure aborts every rank
// (they exit non-zero) and re-running the job resumes from its last checkpoint. Exits with
// the job's outcome like `zerotune launch` (0, 75 stopped, 1 failed).
#pragma once

#include "CLI/App.hpp"

namespace zt::coordinator {

void AddServeCommand(CLI::App& app);

}  // namespace zt::coordinator
