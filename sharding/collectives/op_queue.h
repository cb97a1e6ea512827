// One worker thread that runs a communicator's collectives in the order they were enqueued,
// so every backend call returns at once with a Work handle (communicator.h's contract).
//
// Contract:
//  - Enqueue() is thread-safe; ops run one at a time, first in first out, on the worker thread;
//  - the Work of an op completes when the op's function returned; Wait(deadline) gives
//    DeadlineExceeded naming the op when it did not complete in time (the op keeps running:
//    the caller is expected to Abort());
//  - Abort(reason) fails every op not yet started, and every later Enqueue(), with Aborted
//    carrying the reason; it does not interrupt the running op (the backend interrupts its
//    transport itself) but that op's failure is reported as the abort;
//  - the destructor aborts what is still queued and joins the worker after the running op.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "sharding/collectives/communicator.h"

namespace zt::sharding {

class OpQueue {
 public:
  using Op = std::function<absl::Status()>;

  // `name` prefixes error messages ("gloo rank 1/4").
  explicit OpQueue(std::string name);
  ~OpQueue();
  OpQueue(const OpQueue&) = delete;
  OpQueue& operator=(const OpQueue&) = delete;

  // `description` names the op in errors ("all_reduce #12 sum float[1000]").
  std::unique_ptr<Work> Enqueue(std::string description, Op op);

  // Idempotent: the first reason is kept.
  void Abort(absl::Status reason);

  // OK until Abort(); then the Aborted status every op fails with.
  absl::Status AbortStatus() const;

  struct OpState;

 private:
  void RunWorker();

  const std::string name_;
  mutable absl::Mutex mu_;
  std::deque<std::pair<std::shared_ptr<OpState>, Op>> queue_ ABSL_GUARDED_BY(mu_);
  absl::Status abort_status_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread worker_;
};

}  // namespace zt::sharding
