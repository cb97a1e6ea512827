#include "coordinator/barrier_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace zt::coordinator {

BarrierTable::Arrival* BarrierTable::Arrive(const std::string& key, Arrival arrival,
                                            int world_size, DeadlineScheduler& scheduler,
                                            Finishes* finishes) {
  auto& arrivals = arrivals_[key];
  arrivals.push_back(std::make_unique<Arrival>(arrival));
  if (static_cast<int>(arrivals.size()) < world_size) return arrivals.back().get();
  std::vector<std::unique_ptr<Arrival>> completed = std::move(arrivals);
  arrivals_.erase(key);
  for (auto& done : completed) {
    if (done->timer != 0) scheduler.Cancel(done->timer);
    done->reply->set_arrived(static_cast<int>(completed.size()));
    grpc::ServerUnaryReactor* reactor = done->reactor;
    finishes->push_back([reactor] { reactor->Finish(grpc::Status::OK); });
  }
  return nullptr;
}

void BarrierTable::Expire(const std::string& key, uint64_t id, int world_size,
                          Finishes* finishes) {
  auto it = arrivals_.find(key);
  if (it == arrivals_.end()) return;
  auto& arrivals = it->second;
  std::unique_ptr<Arrival> expired;
  std::vector<int> arrived;
  for (auto& arrival : arrivals) {
    if (arrival->id == id) expired = std::move(arrival);
    else arrived.push_back(arrival->rank);
  }
  if (expired == nullptr) return;
  arrivals.erase(std::remove(arrivals.begin(), arrivals.end(), nullptr), arrivals.end());
  std::vector<int> missing;
  for (int rank = 0; rank < world_size; ++rank) {
    if (rank != expired->rank && std::find(arrived.begin(), arrived.end(), rank) == arrived.end()) {
      missing.push_back(rank);
    }
  }
  const std::string message =
      absl::StrCat("barrier '", key.substr(key.find('/') + 1), "' timed out on rank ",
                   expired->rank, ": waiting for rank(s) ", absl::StrJoin(missing, ", "));
  if (arrivals.empty()) arrivals_.erase(it);
  grpc::ServerUnaryReactor* reactor = expired->reactor;
  finishes->push_back([reactor, message] {
    reactor->Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, message));
  });
}

void BarrierTable::FailAll(const grpc::Status& status, DeadlineScheduler& scheduler,
                           Finishes* finishes) {
  for (auto& [key, arrivals] : arrivals_) {
    for (auto& arrival : arrivals) {
      if (arrival->timer != 0) scheduler.Cancel(arrival->timer);
      grpc::ServerUnaryReactor* reactor = arrival->reactor;
      finishes->push_back([reactor, status] { reactor->Finish(status); });
    }
  }
  arrivals_.clear();
}

}  // namespace zt::coordinator
