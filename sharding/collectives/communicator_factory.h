// Builds the communicator a rank asked for, by backend name, from whatever this build has
// (Gloo, NCCL, MPI are optional at build time): the one place the worker and tests turn a
// configuration into a Communicator.
//
//   "self"        world size 1, any device
//   "gloo"        CPU tensors over TCP; rendezvous through `store`
//   "nccl"        CUDA tensors on `device`; unique id through `store`
//   "host-staged" CUDA tensors through pinned host buffers and Gloo (ranks sharing one GPU)
//   "mpi"         CPU tensors over MPI (the process was started by mpirun/srun and called
//                 MPI_Init_thread); `store` is not used
//   "auto"        world size 1: self; else nccl for a CUDA device, gloo for the CPU
//
// Errors: InvalidArgument for an unknown name or inconsistent rank/world/device, Unimplemented
// naming the missing library when the backend was not built, and the backends' own errors
// (DeadlineExceeded when a rank does not arrive by `deadline`).
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "sharding/collectives/communicator.h"
#include "sharding/collectives/store.h"

namespace zt::sharding {

struct CommunicatorSpec {
  std::string backend = "auto";
  int rank = 0;
  int world_size = 1;
  // CUDA device index for nccl/host-staged (and auto); -1 = CPU.
  int device = -1;
  // Scoped by JobStore(job, generation); required for gloo, nccl, host-staged.
  std::shared_ptr<Store> store;
  // gloo/host-staged: the address or interface to listen on (empty: this host's name).
  std::string hostname;
  std::string interface;
  // Keys inside `store`: "<key_prefix>/..." (one prefix per communicator of a job).
  std::string key_prefix = "comm";
};

// The backends compiled into this build, e.g. "self, gloo, host-staged, nccl, mpi".
std::string AvailableBackends();

absl::StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(const CommunicatorSpec& spec,
                                                                 absl::Time deadline);

}  // namespace zt::sharding
