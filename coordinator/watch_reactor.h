// One WatchJob stream: job events are queued and written one at a time (gRPC allows one
// outstanding write per stream); the stream ends after an event marked last, on cancellation,
// or at service shutdown. Deletes itself when gRPC is done with it (OnDone), after telling the
// service. Thread-safe.
#pragma once

#include <deque>

#include <grpcpp/support/server_callback.h>

#include "absl/synchronization/mutex.h"
#include "proto/zerotune.pb.h"

namespace zt::coordinator {

class CoordinatorService;

class WatchReactor final : public grpc::ServerWriteReactor<proto::JobEvent> {
 public:
  WatchReactor(CoordinatorService* service, int64_t generation, int rank)
      : service_(service), generation_(generation), rank_(rank) {}

  int64_t generation() const { return generation_; }
  int rank() const { return rank_; }

  // Queues `event`; with `last`, the stream finishes OK once it is written.
  void Push(const proto::JobEvent& event, bool last);
  // Ends the stream now with `status` (queued events may be dropped).
  void FinishNow(const grpc::Status& status);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  CoordinatorService* service_;
  const int64_t generation_;
  const int rank_;
  absl::Mutex mu_;
  std::deque<proto::JobEvent> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_after_writes_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace zt::coordinator
