// GPU label: the loaded libnccl is at least the one compiled against, and CUDA/NCCL errors
// carry the library's own text.
#include "common/nccl_version.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/cuda_check.h"
#include "common/nccl_check.h"

namespace zt::common {
namespace {

absl::Status FailingCudaCall() {
  ZT_CUDA_RETURN_IF_ERROR(cudaSetDevice(1 << 20));
  return absl::OkStatus();
}

absl::Status FailingNcclCall() {
  ZT_NCCL_RETURN_IF_ERROR(ncclCommInitRank(nullptr, 1, ncclUniqueId{}, 0), nullptr);
  return absl::OkStatus();
}

TEST(NcclVersionTest, RuntimeIsAtLeastCompiled) {
  absl::StatusOr<std::string> runtime = NcclRuntimeVersion();
  ASSERT_TRUE(runtime.ok()) << runtime.status();
  EXPECT_FALSE(NcclCompiledVersion().empty());
}

TEST(CheckMacrosTest, CudaAndNcclErrorsNameTheCallAndTheLibrarysText) {
  absl::Status cuda = FailingCudaCall();
  EXPECT_THAT(std::string(cuda.message()), ::testing::HasSubstr("CUDA error in `cudaSetDevice(1 << 20)`: cudaErrorInvalidDevice"));
  absl::Status nccl = FailingNcclCall();
  EXPECT_EQ(nccl.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(nccl.message()), ::testing::HasSubstr("NCCL error in `ncclCommInitRank"));
}

}  // namespace
}  // namespace zt::common
