// The coordinator's key-value table with asynchronous waits: WaitAsync() never blocks a
// thread; its callback runs once, when every key exists (from the Set/Add that completed
// it) or at the deadline (from the scheduler's thread) with the Store contract's
// DeadlineExceeded naming the keys still missing. Semantics match sharding/store.h.
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

class KvTable {
 public:
  // `scheduler` must outlive the table; `name` appears in deadline messages.
  KvTable(DeadlineScheduler* scheduler, std::string name);
  ~KvTable();  // pending waits complete with Unavailable

  void Set(const std::string& key, std::string value);
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

  DeadlineScheduler* scheduler_;
  std::string name_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> values_ ABSL_GUARDED_BY(mu_);
  uint64_t next_waiter_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_set<uint64_t>> by_key_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zt::coordinator
