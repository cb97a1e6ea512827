// The Barrier RPC's waiting arrivals, one list per (generation, name) key: a barrier completes
// when world-size ranks arrived; an arrival whose deadline passes fails alone, naming the ranks
// still missing; a phase change or shutdown fails them all. Not thread-safe: the service's mutex
// guards it, and the gRPC reactors are finished by the caller after unlocking (the `finishes`
// it is handed).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/support/server_callback.h>

#include "absl/container/flat_hash_map.h"
#include "coordinator/deadline_scheduler.h"
#include "proto/zerotune.pb.h"

namespace zt::coordinator {

class BarrierTable {
 public:
  using Finishes = std::vector<std::function<void()>>;
  struct Arrival {
    uint64_t id;
    int rank;
    grpc::ServerUnaryReactor* reactor;
    proto::BarrierReply* reply;
    DeadlineScheduler::Id timer = 0;
  };

  // Adds `arrival` at `key`. When it is the world_size-th, every arrival's reply gets the count,
  // their timers are cancelled, their OK finishes go to `finishes` and nullptr is returned;
  // else the waiting arrival (the caller sets its timer).
  Arrival* Arrive(const std::string& key, Arrival arrival, int world_size,
                  DeadlineScheduler& scheduler, Finishes* finishes);
  // The deadline of arrival `id` at `key` passed: it finishes DEADLINE_EXCEEDED naming the
  // barrier ("<generation>/<name>" keys) and the missing ranks; nothing if it completed.
  void Expire(const std::string& key, uint64_t id, int world_size, Finishes* finishes);
  // Every waiting arrival finishes with `status`; the table is empty afterwards.
  void FailAll(const grpc::Status& status, DeadlineScheduler& scheduler, Finishes* finishes);

 private:
  absl::flat_hash_map<std::string, std::vector<std::unique_ptr<Arrival>>> arrivals_;
};

}  // namespace zt::coordinator
