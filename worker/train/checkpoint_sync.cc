#include "worker/train/checkpoint_sync.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace zt::worker::train {

RankSync::RankSync(std::shared_ptr<sharding::Store> store, int rank, int world_size,
                   absl::Duration timeout)
    : store_(std::move(store)), rank_(rank), world_size_(world_size), timeout_(timeout) {}

absl::StatusOr<std::vector<std::string>> RankSync::AllGather(absl::string_view phase,
                                                             const std::string& value) {
  const std::string prefix = absl::StrCat("checkpoint/", calls_++, "/", phase, "/");
  ZT_RETURN_IF_ERROR(store_->Set(absl::StrCat(prefix, rank_), value));
  const absl::Time deadline = absl::Now() + timeout_;
  std::vector<std::string> out(world_size_);
  for (int r = 0; r < world_size_; ++r) {
    if (r == rank_) {
      out[r] = value;
      continue;
    }
    ZT_ASSIGN_OR_RETURN(out[r], store_->Get(absl::StrCat(prefix, r), deadline));
  }
  return out;
}

absl::Status RankSync::AllOk(absl::string_view phase, const absl::Status& mine) {
  ZT_ASSIGN_OR_RETURN(std::vector<std::string> all, AllGather(phase, EncodeStatus(mine)));
  for (int r = 0; r < world_size_; ++r) {
    absl::Status s = DecodeStatus(all[r]);
    if (!s.ok()) {
      if (r == rank_) return s;
      return absl::Status(s.code(), absl::StrCat("rank ", r, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

std::string EncodeStatus(const absl::Status& status) {
  if (status.ok()) return "";
  return absl::StrCat(static_cast<int>(status.code()), ":", status.message());
}

absl::Status DecodeStatus(absl::string_view text) {
  if (text.empty()) return absl::OkStatus();
  const size_t colon = text.find(':');
  int code = static_cast<int>(absl::StatusCode::kUnknown);
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(text.substr(0, colon), &code)) {
    return absl::UnknownError(text);
  }
  return absl::Status(static_cast<absl::StatusCode>(code), text.substr(colon + 1));
}

}  // namespace zt::worker::train
