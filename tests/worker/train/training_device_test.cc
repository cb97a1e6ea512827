// Where a rank trains (worker/train/training_device.h), table-driven: torchrun's
// cuda:LOCAL_RANK, the CPU without devices or with --use_cpu, and the error for a local rank
// beyond the visible devices; the communicator backend per device and world size.
#include "worker/train/training_device.h"

#include <gtest/gtest.h>

namespace zt::worker::train {
namespace {

struct DeviceCase {
  const char* name;
  bool use_cpu;
  int local_rank;
  int64_t visible;
  const char* cuda_visible_devices;
  const char* expected;  // c10::Device::str(), or the error's part
  bool ok;
};

TEST(TrainingDeviceTest, ChoosesCudaLocalRankTheCpuOrRefuses) {
  const DeviceCase cases[] = {
      {"no devices", false, 0, 0, nullptr, "cpu", true},
      {"no devices, rank 3", false, 3, 0, nullptr, "cpu", true},
      {"rank 0 of 8", false, 0, 8, nullptr, "cuda:0", true},
      {"rank 7 of 8", false, 7, 8, "0,1,2,3,4,5,6,7", "cuda:7", true},
      {"use_cpu", true, 1, 8, nullptr, "cpu", true},
      {"rank beyond the devices", false, 2, 2, "4,5",
       "LOCAL_RANK 2 has no CUDA device: this process sees 2 (CUDA_VISIBLE_DEVICES=4,5)", false},
      {"unset variable", false, 1, 1, nullptr, "(CUDA_VISIBLE_DEVICES=<unset>)", false},
  };
  for (const DeviceCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<c10::Device> device =
        ChooseTrainingDevice(c.use_cpu, c.local_rank, c.visible, c.cuda_visible_devices);
    if (c.ok) {
      ASSERT_TRUE(device.ok()) << device.status();
      EXPECT_EQ(device->str(), c.expected);
      continue;
    }
    ASSERT_EQ(device.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(device.status().message().find(c.expected), absl::string_view::npos)
        << device.status();
    EXPECT_NE(device.status().message().find("--use_cpu"), absl::string_view::npos);
  }
}

TEST(TrainingDeviceTest, TheCommunicatorFollowsTheDevice) {
  EXPECT_EQ(CommunicatorBackendFor(c10::Device(c10::kCPU), 1), "self");
  EXPECT_EQ(CommunicatorBackendFor(c10::Device(c10::kCUDA, 0), 1), "self");
  EXPECT_EQ(CommunicatorBackendFor(c10::Device(c10::kCPU), 2), "gloo");
  EXPECT_EQ(CommunicatorBackendFor(c10::Device(c10::kCUDA, 1), 4), "nccl");
}

// This machine: without a visible device the rank trains on the CPU.
TEST(TrainingDeviceTest, SelectsTheCpuWhereNoDeviceIsVisible) {
  absl::StatusOr<c10::Device> device = SelectTrainingDevice(/*use_cpu=*/true, 0);
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_TRUE(device->is_cpu());
}

}  // namespace
}  // namespace zt::worker::train
