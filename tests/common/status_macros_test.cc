#include "common/status_macros.h"

#include <gtest/gtest.h>

namespace zt::common {
namespace {

absl::StatusOr<int> HalfOfEven(int value) {
  if (value % 2 != 0) return absl::InvalidArgumentError("odd");
  return value / 2;
}

absl::StatusOr<int> QuarterOf(int value) {
  ZT_ASSIGN_OR_RETURN(int half, HalfOfEven(value));
  ZT_ASSIGN_OR_RETURN(int quarter, HalfOfEven(half));
  return quarter;
}

absl::Status CheckBoth(absl::Status first, absl::Status second, int* reached) {
  ZT_RETURN_IF_ERROR(first);
  ++*reached;
  ZT_RETURN_IF_ERROR(second);
  ++*reached;
  return absl::OkStatus();
}

TEST(StatusMacrosTest, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(*QuarterOf(12), 3);
  absl::StatusOr<int> odd_half = QuarterOf(6);  // 6 -> 3 -> odd
  EXPECT_EQ(odd_half.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtTheFailure) {
  int reached = 0;
  EXPECT_TRUE(CheckBoth(absl::OkStatus(), absl::OkStatus(), &reached).ok());
  EXPECT_EQ(reached, 2);
  reached = 0;
  absl::Status status = CheckBoth(absl::OkStatus(), absl::NotFoundError("x"), &reached);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reached, 1);
}

}  // namespace
}  // namespace zt::common
