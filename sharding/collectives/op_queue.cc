#include "sharding/collectives/op_queue.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace zt::sharding {

struct OpQueue::OpState {
  std::string description;
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::Status status ABSL_GUARDED_BY(mu);

  void Finish(absl::Status result) {
    absl::MutexLock lock(&mu);
    done = true;
    status = std::move(result);
  }
};

namespace {

class QueuedWork final : public Work {
 public:
  QueuedWork(std::shared_ptr<OpQueue::OpState> state, std::string queue_name)
      : state_(std::move(state)), queue_name_(std::move(queue_name)) {}

  absl::Status Wait(absl::Time deadline) override {
    absl::MutexLock lock(&state_->mu);
    if (!state_->mu.AwaitWithDeadline(absl::Condition(&state_->done), deadline)) {
      return absl::DeadlineExceededError(
          absl::StrCat(queue_name_, ": ", state_->description,
                       " did not complete by its deadline (a peer has not joined it, or is slow); "
                       "abort the communicator"));
    }
    return state_->status;
  }

  bool IsCompleted() override {
    absl::MutexLock lock(&state_->mu);
    return state_->done;
  }

 private:
  std::shared_ptr<OpQueue::OpState> state_;
  std::string queue_name_;
};

absl::Status AbortedOp(const std::string& queue_name, const std::string& description,
                       const absl::Status& abort_status) {
  return absl::AbortedError(
      absl::StrCat(queue_name, ": ", description, " failed: ", abort_status.message()));
}

}  // namespace

OpQueue::OpQueue(std::string name) : name_(std::move(name)) {
  worker_ = std::thread([this] { RunWorker(); });
}

OpQueue::~OpQueue() {
  Abort(absl::CancelledError("communicator destroyed"));
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  worker_.join();
}

std::unique_ptr<Work> OpQueue::Enqueue(std::string description, Op op) {
  auto state = std::make_shared<OpState>();
  state->description = std::move(description);
  absl::MutexLock lock(&mu_);
  if (!abort_status_.ok()) {
    state->Finish(AbortedOp(name_, state->description, abort_status_));
  } else {
    queue_.emplace_back(state, std::move(op));
  }
  return std::make_unique<QueuedWork>(std::move(state), name_);
}

void OpQueue::Abort(absl::Status reason) {
  std::deque<std::pair<std::shared_ptr<OpState>, Op>> dropped;
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (abort_status_.ok()) {
      abort_status_ = absl::AbortedError(absl::StrCat(
          "communicator aborted: ", reason.ok() ? "no reason given" : reason.ToString()));
    }
    status = abort_status_;
    dropped.swap(queue_);
  }
  for (auto& [state, op] : dropped) state->Finish(AbortedOp(name_, state->description, status));
}

absl::Status OpQueue::AbortStatus() const {
  absl::MutexLock lock(&mu_);
  return abort_status_;
}

void OpQueue::RunWorker() {
  for (;;) {
    std::shared_ptr<OpState> state;
    Op op;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](OpQueue* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping_
      state = std::move(queue_.front().first);
      op = std::move(queue_.front().second);
      queue_.pop_front();
    }
    absl::Status result = op();
    if (!result.ok()) {
      // An op interrupted by Abort() reports the abort, not the transport's symptom of it.
      absl::Status aborted = AbortStatus();
      if (!aborted.ok()) {
        result = AbortedOp(
            name_, state->description,
            absl::AbortedError(absl::StrCat(aborted.message(), " (", result.message(), ")")));
      }
    }
    state->Finish(std::move(result));
  }
}

}  // namespace zt::sharding
