// Where a rank trains, as torchrun + the HF Trainer place it: cuda:LOCAL_RANK when CUDA devices
// are visible (CUDA_VISIBLE_DEVICES already applied by the CUDA runtime), the CPU when none are
// or with --use_cpu (HF's flag). The communicator follows the device: NCCL for CUDA, Gloo for
// the CPU, the self communicator for one rank.
#pragma once

#include <c10/core/Device.h>

#include <string>

#include "absl/status/statusor.h"

namespace zt::worker::train {

// `visible_devices`: CUDA devices this process sees; `cuda_visible_devices`: the variable's
// text (null when unset), only for the error. InvalidArgument naming LOCAL_RANK, the device
// count and CUDA_VISIBLE_DEVICES when the local rank has no device of its own.
absl::StatusOr<c10::Device> ChooseTrainingDevice(bool use_cpu, int local_rank,
                                                 int64_t visible_devices,
                                                 const char* cuda_visible_devices);

// ChooseTrainingDevice with this process's CUDA device count and environment; a CUDA device
// chosen becomes the current one (NCCL and the caching allocator use it).
absl::StatusOr<c10::Device> SelectTrainingDevice(bool use_cpu, int local_rank);

// The communicator backend for `world_size` ranks on `device`: "self", "nccl" or "gloo".
std::string CommunicatorBackendFor(const c10::Device& device, int world_size);

}  // namespace zt::worker::train
