#include "common/mpi_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zt::common {
namespace {

absl::Status FailWith(int code) {
  ZT_MPI_RETURN_IF_ERROR(code);
  return absl::OkStatus();
}

// Before MPI_Init (this process is not under mpirun), the code is reported by number; the
// library's own text is added once MPI is initialised (exercised by the MPI backend's tests).
TEST(MpiCheckTest, BeforeInitTheCodeIsReportedWithoutCallingIntoMpi) {
  absl::Status status = FailWith(MPI_ERR_TRUNCATE);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(status.message()),
              ::testing::HasSubstr("MPI error in `code`: MPI error code " + std::to_string(MPI_ERR_TRUNCATE)));
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("mpi_check_test.cc:"));
  EXPECT_TRUE(FailWith(MPI_SUCCESS).ok());
}

}  // namespace
}  // namespace zt::common
