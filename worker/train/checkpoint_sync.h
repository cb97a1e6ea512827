// How the ranks of a job agree while saving and loading checkpoints: all-gathers of small
// strings and of per-rank statuses through the job's Store (sharding/collectives/store.h). Every rank makes
// the same calls in the same order; a call's keys are "checkpoint/<n>/<phase>/<rank>" with n
// counting the calls, so repeated saves never see stale values (scoping by job and restart
// generation is the Store's PrefixStore). Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sharding/collectives/store.h"

namespace zt::worker::train {

class RankSync {
 public:
  RankSync(std::shared_ptr<sharding::Store> store, int rank, int world_size,
           absl::Duration timeout);

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

  // Every rank's `value`, by rank (a barrier too). DeadlineExceeded naming the missing ranks'
  // keys after the timeout.
  absl::StatusOr<std::vector<std::string>> AllGather(absl::string_view phase,
                                                     const std::string& value);
  // OK on every rank when every rank passed OK; otherwise, on every rank, the lowest failing
  // rank's error (same code), prefixed "rank <r>: ".
  absl::Status AllOk(absl::string_view phase, const absl::Status& mine);

 private:
  std::shared_ptr<sharding::Store> store_;
  int rank_;
  int world_size_;
  absl::Duration timeout_;
  int64_t calls_ = 0;
};

// "<code>:<message>" for a non-OK status, "" for OK; and back.
std::string EncodeStatus(const absl::Status& status);
absl::Status DecodeStatus(absl::string_view text);

}  // namespace zt::worker::train
