#include "sharding/collectives/store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace zt::sharding {

absl::Status StoreDeadlineError(absl::string_view store_name, absl::Span<const std::string> keys) {
  return absl::DeadlineExceededError(absl::StrCat("timed out waiting for key(s) '",
                                                  absl::StrJoin(keys, "', '"), "' in ", store_name));
}

absl::StatusOr<int64_t> ParseCounter(absl::string_view key, absl::string_view value) {
  int64_t counter = 0;
  if (!absl::SimpleAtoi(value, &counter)) {
    return absl::InvalidArgumentError(absl::StrCat("store key '", key, "' holds '", value,
                                                   "', not an integer counter; Add() needs one"));
  }
  return counter;
}

}  // namespace zt::sharding
