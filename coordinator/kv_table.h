// The coordinator's key-value table with asynchronous waits: WaitAsync() never blocks a
// thread; its callback runs once, when every key exists (from the Set/Add that completed
// it) or at the deadline (from the scheduler's thread) with the Store contract's
// DeadlineExceeded naming the keys still missing. Semantics match sharding/collectives/store.h.
// Thread-safe; callbacks run outside the table's lock.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/deadline_scheduler.h"

namespace zt::coordinator {

// Memory bounds of the table: any token holder can write, so one of them must not be able to
// fill the coordinator's memory. Bytes count keys plus values. The flag names go into the
// ResourceExhausted messages, so a caller sees what to raise.
struct KvLimits {
  int64_t max_value_bytes = int64_t{4} << 20;    // one value
  int64_t max_total_bytes = int64_t{256} << 20;  // every key and value together
  std::string value_flag = "--store_max_value_bytes";
  std::string total_flag = "--store_max_total_bytes";
};

class KvTable {
 public:
  // `scheduler` must outlive the table; `name` appears in deadline messages.
  KvTable(DeadlineScheduler* scheduler, std::string name, KvLimits limits = {});
  ~KvTable();  // pending waits complete with Unavailable

  // ResourceExhausted (nothing stored) for a value over max_value_bytes or a write that
  // would take the table over max_total_bytes; Add's counters count like any value.
  absl::Status Set(const std::string& key, std::string value);
  absl::StatusOr<int64_t> Add(const std::string& key, int64_t delta);
  bool Delete(const std::string& key);
  bool Check(const std::vector<std::string>& keys) const;
  // The value if present.
  absl::StatusOr<std::string> Read(const std::string& key) const;

  using Done = std::function<void(absl::Status)>;
  void WaitAsync(std::vector<std::string> keys, absl::Time deadline, Done done);

  // Completes every pending wait with `status` (server shutdown).
  void FailAllWaits(const absl::Status& status);

  size_t size() const;
  int64_t total_bytes() const;

 private:
  struct Waiter {
    absl::flat_hash_set<std::string> missing;
    std::vector<std::string> keys;
    Done done;
    DeadlineScheduler::Id timer = 0;
  };
  void OnKeyWritten(const std::string& key, std::vector<Done>* ready)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnDeadline(uint64_t waiter_id);
  // OK when storing `value_bytes` under `key` keeps the table within its limits.
  absl::Status CheckFits(const std::string& key, size_t value_bytes) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Store(const std::string& key, std::string value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  DeadlineScheduler* scheduler_;
  std::string name_;
  KvLimits limits_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> values_ ABSL_GUARDED_BY(mu_);
  int64_t total_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_waiter_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_set<uint64_t>> by_key_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zt::coordinator
