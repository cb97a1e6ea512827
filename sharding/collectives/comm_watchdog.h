// A watchdog thread for a communicator whose operations run asynchronously on a device (NCCL):
// every `interval` it polls the backend's asynchronous error state and the tracked in-flight
// operations, and calls `abort` once, with the reason, when the poll reports an error or an
// operation is still running at its deadline (as nccl-tests' and PyTorch's watchdogs do).
// After firing it stops checking; the communicator is unusable from then on.
//
// Thread-safety: Track() from any thread. The hooks run on the watchdog thread, never
// concurrently with each other. The destructor stops and joins the thread (the hooks must stay
// valid until then). Torch- and CUDA-free, so it is unit-tested with fake hooks.
#pragma once

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace zt::sharding {

class CommWatchdog {
 public:
  struct Hooks {
    // The backend's asynchronous error check (ncclCommGetAsyncError); non-OK fires `abort`.
    std::function<absl::Status()> poll;
    // Called at most once, on the watchdog thread.
    std::function<void(absl::Status reason)> abort;
  };

  // `name` prefixes the reasons ("nccl rank 3/8").
  CommWatchdog(std::string name, absl::Duration interval, Hooks hooks);
  ~CommWatchdog();
  CommWatchdog(const CommWatchdog&) = delete;
  CommWatchdog& operator=(const CommWatchdog&) = delete;

  // Watches one operation: `done` (polled on the watchdog thread) must return true by `deadline`,
  // or abort fires with DeadlineExceeded naming `description`.
  void Track(std::string description, absl::Time deadline, std::function<bool()> done);

  // Whether abort has fired.
  bool fired() const;

 private:
  struct Tracked {
    std::string description;
    absl::Time deadline;
    std::function<bool()> done;
  };

  void Run();
  // One round of checks; returns the reason to abort, OK when all is well.
  absl::Status CheckOnce();

  const std::string name_;
  const absl::Duration interval_;
  Hooks hooks_;
  mutable absl::Mutex mu_;
  std::vector<Tracked> tracked_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool fired_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace zt::sharding
