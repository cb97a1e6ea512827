// The devices a device-parameterised test runs on: the CPU always, and cuda:0 where a CUDA
// device answers (the GPU host), so the CPU run in CI and the GPU run exercise the same code.
// Header only: the test binaries that use it link LibTorch already.
#pragma once

#include <c10/core/Device.h>

#include <string>
#include <vector>

#include "common/torch_compat.h"

namespace zt::testing {

inline std::vector<c10::Device> TestDevices() {
  std::vector<c10::Device> devices = {c10::Device(c10::kCPU)};
  if (common::CudaAvailable()) devices.emplace_back(c10::kCUDA, 0);
  return devices;
}

// "cpu", "cuda0": for gtest parameter names.
inline std::string TestDeviceName(const c10::Device& device) {
  return device.is_cpu() ? "cpu" : "cuda" + std::to_string(device.index());
}

}  // namespace zt::testing
