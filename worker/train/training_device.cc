#include "worker/train/training_device.h"

#include <ATen/Context.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace zt::worker::train {

absl::StatusOr<c10::Device> ChooseTrainingDevice(bool use_cpu, int local_rank,
                                                 int64_t visible_devices,
                                                 const char* cuda_visible_devices) {
  if (use_cpu || visible_devices <= 0) return c10::Device(c10::kCPU);
  if (local_rank < 0 || local_rank >= visible_devices) {
    return absl::InvalidArgumentError(absl::StrCat(
        "LOCAL_RANK ", local_rank, " has no CUDA device: this process sees ", visible_devices,
        " (CUDA_VISIBLE_DEVICES=",
        cuda_visible_devices != nullptr ? cuda_visible_devices : "<unset>",
        "); start at most ", visible_devices,
        " ranks per node (--num_gpus), widen CUDA_VISIBLE_DEVICES, or pass --use_cpu"));
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
}

absl::StatusOr<c10::Device> SelectTrainingDevice(bool use_cpu, int local_rank) {
  const int64_t visible = at::hasCUDA() ? static_cast<int64_t>(at::getNumGPUs()) : 0;
  absl::StatusOr<c10::Device> device =
      ChooseTrainingDevice(use_cpu, local_rank, visible, std::getenv("CUDA_VISIBLE_DEVICES"));
  if (device.ok() && device->is_cuda()) {
    // Through the registered CUDA guard: this file links no CUDA library itself.
    c10::impl::getDeviceGuardImpl(c10::kCUDA)->setDevice(*device);
  }
  return device;
}

std::string CommunicatorBackendFor(const c10::Device& device, int world_size) {
  if (world_size == 1) return "self";
  return device.is_cuda() ? "nccl" : "gloo";
}

}  // namespace zt::worker::train
