// `zerotune-worker train <training arguments>`: one rank of a training job. Started by
// `zerotune launch` (the coordinator's address and token in the environment), by srun or
// mpirun (rank 0 hosts the coordinator: worker/runtime), or by hand without any launcher (one
// process, world size 1). In every case output_dir gets the same metrics.jsonl, metrics.csv and
// trainer_state.json (coordinator/metrics_writer.h): written by the launcher's coordinator, by
// rank 0's in-process one, or by the lone process itself. Prints every argument with its value at start-up
// (rank 0), trains (trainer.h) and exits 0, 1 on failure (the error file and the coordinator get
// the message), 2 on bad arguments, or the preemption code after a coordinated stop.
#pragma once

namespace CLI {
class App;
}

namespace zt::worker::train {

void AddTrainCommand(CLI::App& app);

}  // namespace zt::worker::train
