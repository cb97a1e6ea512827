#include "coordinator/watch_reactor.h"

#include "coordinator/coordinator_service.h"

namespace zt::coordinator {

void WatchReactor::Push(const proto::JobEvent& event, bool last) {
  const proto::JobEvent* to_write = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || finish_after_writes_) return;
    queue_.push_back(event);
    if (last) finish_after_writes_ = true;
    if (!writing_) {
      writing_ = true;
      to_write = &queue_.front();  // deque::push_back keeps references to other elements valid
    }
  }
  if (to_write != nullptr) StartWrite(to_write);
}

void WatchReactor::FinishNow(const grpc::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
  }
  Finish(status);
}

void WatchReactor::OnWriteDone(bool ok) {
  const proto::JobEvent* next = nullptr;
  bool finish = false;
  {
    absl::MutexLock lock(&mu_);
    queue_.pop_front();
    if (finished_) return;
    if (!ok) {
      finished_ = true;
      finish = true;
    } else if (!queue_.empty()) {
      next = &queue_.front();
    } else {
      writing_ = false;
      if (finish_after_writes_) {
        finished_ = true;
        finish = true;
      }
    }
  }
  if (next != nullptr) StartWrite(next);
  if (finish) Finish(ok ? grpc::Status::OK : grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
}

void WatchReactor::OnCancel() { FinishNow(grpc::Status::CANCELLED); }

void WatchReactor::OnDone() {
  service_->RemoveWatcher(this);
  delete this;
}

}  // namespace zt::coordinator
