#include "sharding/collectives/gloo_ring.h"

#include <gloo/context.h>
#include <gloo/transport/unbound_buffer.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/gloo_check.h"
#include "common/status_macros.h"
#include "sharding/collectives/host_reduce.h"

namespace zt::sharding {
namespace {

// Slots tell the messages of different ops and steps apart: [seq | phase | step].
uint64_t Slot(uint64_t seq, uint64_t phase, uint64_t step) {
  return (seq << 24) | (phase << 20) | (step & 0xFFFFF);
}

enum Phase : uint64_t {
  kReducePhase = 1,
  kGatherPhase = 2,
  kBroadcastPhase = 3,
  kBarrierPhase = 4
};

// Keeps a buffer registered for Abort() while it is in use.
class Registration {
 public:
  Registration(std::function<void()> release) : release_(std::move(release)) {}
  ~Registration() { release_(); }

 private:
  std::function<void()> release_;
};

}  // namespace

GlooRing::GlooRing(std::shared_ptr<gloo::Context> context, std::chrono::milliseconds timeout)
    : context_(std::move(context)),
      timeout_(timeout),
      rank_(context_->rank),
      size_(context_->size) {}

void GlooRing::Abort() {
  absl::MutexLock lock(&mu_);
  aborted_ = true;
  // Gloo's abort flags are sticky: a wait that has not started yet returns at once too.
  for (gloo::transport::UnboundBuffer* buffer : active_) {
    buffer->abortWaitRecv();
    buffer->abortWaitSend();
  }
}

bool GlooRing::Register(gloo::transport::UnboundBuffer* buffer) {
  absl::MutexLock lock(&mu_);
  if (aborted_) return false;
  active_.push_back(buffer);
  return true;
}

void GlooRing::Unregister(gloo::transport::UnboundBuffer* buffer) {
  absl::MutexLock lock(&mu_);
  active_.erase(std::remove(active_.begin(), active_.end(), buffer), active_.end());
}

absl::Status GlooRing::AbortedStatus() const {
  return absl::AbortedError(absl::StrCat("gloo rank ", rank_, ": transfer interrupted by Abort()"));
}

absl::Status GlooRing::SendRecv(uint64_t slot, int to, const void* send, size_t send_bytes,
                                int from, void* recv, size_t recv_bytes) {
  std::unique_ptr<gloo::transport::UnboundBuffer> recv_buffer;
  std::unique_ptr<gloo::transport::UnboundBuffer> send_buffer;
  if (recv_bytes > 0) recv_buffer = context_->createUnboundBuffer(recv, recv_bytes);
  if (send_bytes > 0) {
    send_buffer = context_->createUnboundBuffer(const_cast<void*>(send), send_bytes);
  }
  if ((recv_buffer && !Register(recv_buffer.get())) ||
      (send_buffer && !Register(send_buffer.get()))) {
    Unregister(recv_buffer.get());
    return AbortedStatus();
  }
  Registration registration([&] {
    Unregister(recv_buffer.get());
    Unregister(send_buffer.get());
  });
  if (recv_buffer) recv_buffer->recv(from, slot);
  if (send_buffer) send_buffer->send(to, slot);
  return WaitBoth(send_buffer.get(), recv_buffer.get());
}

absl::Status GlooRing::WaitBoth(gloo::transport::UnboundBuffer* send,
                                gloo::transport::UnboundBuffer* recv) {
  // An explicit timeout: the unset one would be the transport context's, fixed at rendezvous.
  // Past it Gloo fails the pairs and throws IoException.
  if (recv != nullptr && !recv->waitRecv(nullptr, timeout_)) return AbortedStatus();
  if (send != nullptr && !send->waitSend(nullptr, timeout_)) return AbortedStatus();
  return absl::OkStatus();
}

absl::Status GlooRing::RingReduceInPlace(uint64_t seq, char* data,
                                         const std::vector<size_t>& offsets,
                                         const std::vector<size_t>& counts, at::ScalarType dtype,
                                         ReduceOp op) {
  const size_t element = c10::elementSize(dtype);
  std::vector<char> scratch(*std::max_element(counts.begin(), counts.end()) * element);
  const int next = (rank_ + 1) % size_;
  const int prev = (rank_ + size_ - 1) % size_;
  for (int step = 0; step + 1 < size_; ++step) {
    const int send_chunk = ((rank_ - step - 1) % size_ + size_) % size_;
    const int recv_chunk = ((rank_ - step - 2) % size_ + size_) % size_;
    char* target = data + offsets[recv_chunk] * element;
    ZT_RETURN_IF_ERROR(SendRecv(Slot(seq, kReducePhase, step), next,
                                data + offsets[send_chunk] * element, counts[send_chunk] * element,
                                prev, scratch.data(), counts[recv_chunk] * element));
    Combine(dtype, op, target, target, scratch.data(), counts[recv_chunk]);
  }
  return absl::OkStatus();
}

absl::Status GlooRing::RingGatherInPlace(uint64_t seq, char* data,
                                         const std::vector<size_t>& offsets_bytes,
                                         const std::vector<size_t>& sizes_bytes) {
  const int next = (rank_ + 1) % size_;
  const int prev = (rank_ + size_ - 1) % size_;
  for (int step = 0; step + 1 < size_; ++step) {
    const int send_chunk = ((rank_ - step) % size_ + size_) % size_;
    const int recv_chunk = ((rank_ - step - 1) % size_ + size_) % size_;
    ZT_RETURN_IF_ERROR(SendRecv(Slot(seq, kGatherPhase, step), next,
                                data + offsets_bytes[send_chunk], sizes_bytes[send_chunk], prev,
                                data + offsets_bytes[recv_chunk], sizes_bytes[recv_chunk]));
  }
  return absl::OkStatus();
}

absl::Status GlooRing::AllReduce(uint64_t seq, void* data, size_t count, at::ScalarType dtype,
                                 ReduceOp op) {
  if (size_ == 1 || count == 0) return absl::OkStatus();
  // Nearly equal chunks: the first count % size get one element more (some may be empty).
  std::vector<size_t> offsets(size_), counts(size_), offsets_bytes(size_), sizes_bytes(size_);
  const size_t element = c10::elementSize(dtype);
  size_t offset = 0;
  for (int i = 0; i < size_; ++i) {
    counts[i] = count / size_ + (static_cast<size_t>(i) < count % size_ ? 1 : 0);
    offsets[i] = offset;
    offsets_bytes[i] = offset * element;
    sizes_bytes[i] = counts[i] * element;
    offset += counts[i];
  }
  char* bytes = static_cast<char*>(data);
  absl::Status status;
  ZT_GLOO_RETURN_IF_ERROR(status = RingReduceInPlace(seq, bytes, offsets, counts, dtype, op));
  ZT_RETURN_IF_ERROR(status);
  if (op == ReduceOp::kAvg) DivideBy(dtype, bytes + offsets_bytes[rank_], counts[rank_], size_);
  ZT_GLOO_RETURN_IF_ERROR(status = RingGatherInPlace(seq, bytes, offsets_bytes, sizes_bytes));
  return status;
}

absl::Status GlooRing::ReduceScatter(uint64_t seq, const void* input, void* output,
                                     size_t chunk_count, at::ScalarType dtype, ReduceOp op) {
  const size_t chunk_bytes = chunk_count * c10::elementSize(dtype);
  const char* in = static_cast<const char*>(input);
  if (size_ == 1 || chunk_count == 0) {
    if (chunk_bytes > 0 && output != input) std::memmove(output, input, chunk_bytes);
    return absl::OkStatus();
  }
  // The running partial sum lives in `output`; `input` is never written.
  std::vector<char> scratch(chunk_bytes);
  const int next = (rank_ + 1) % size_;
  const int prev = (rank_ + size_ - 1) % size_;
  for (int step = 0; step + 1 < size_; ++step) {
    const int send_chunk = ((rank_ - step - 1) % size_ + size_) % size_;
    const int recv_chunk = ((rank_ - step - 2) % size_ + size_) % size_;
    const void* send = step == 0 ? in + send_chunk * chunk_bytes : output;
    absl::Status status;
    ZT_GLOO_RETURN_IF_ERROR(status = SendRecv(Slot(seq, kReducePhase, step), next, send,
                                              chunk_bytes, prev, scratch.data(), chunk_bytes));
    ZT_RETURN_IF_ERROR(status);
    Combine(dtype, op, output, in + recv_chunk * chunk_bytes, scratch.data(), chunk_count);
  }
  if (op == ReduceOp::kAvg) DivideBy(dtype, output, chunk_count, size_);
  return absl::OkStatus();
}

absl::Status GlooRing::AllGather(uint64_t seq, const void* input, void* output,
                                 size_t chunk_bytes) {
  char* out = static_cast<char*>(output);
  if (chunk_bytes > 0 && input != out + rank_ * chunk_bytes) {
    std::memmove(out + rank_ * chunk_bytes, input, chunk_bytes);
  }
  if (size_ == 1 || chunk_bytes == 0) return absl::OkStatus();
  std::vector<size_t> offsets_bytes(size_), sizes_bytes(size_, chunk_bytes);
  for (int i = 0; i < size_; ++i) offsets_bytes[i] = i * chunk_bytes;
  absl::Status status;
  ZT_GLOO_RETURN_IF_ERROR(status = RingGatherInPlace(seq, out, offsets_bytes, sizes_bytes));
  return status;
}

absl::Status GlooRing::Broadcast(uint64_t seq, void* data, size_t bytes, int root) {
  if (size_ == 1 || bytes == 0) return absl::OkStatus();
  // Binomial tree over ranks renumbered so that root is 0: log2(size) rounds.
  const int virtual_rank = (rank_ - root + size_) % size_;
  int round = 0;
  for (int mask = 1; mask < size_; mask <<= 1, ++round) {
    absl::Status status;
    if (virtual_rank < mask && virtual_rank + mask < size_) {
      const int to = (virtual_rank + mask + root) % size_;
      ZT_GLOO_RETURN_IF_ERROR(
          status = SendRecv(Slot(seq, kBroadcastPhase, round), to, data, bytes, 0, nullptr, 0));
    } else if (virtual_rank >= mask && virtual_rank < 2 * mask) {
      const int from = (virtual_rank - mask + root) % size_;
      ZT_GLOO_RETURN_IF_ERROR(
          status = SendRecv(Slot(seq, kBroadcastPhase, round), 0, nullptr, 0, from, data, bytes));
    }
    ZT_RETURN_IF_ERROR(status);
  }
  return absl::OkStatus();
}

absl::Status GlooRing::Barrier(uint64_t seq) {
  // Dissemination barrier: after round k every rank has heard, directly or not, from 2^k peers.
  char token = 1;
  char received = 0;
  int round = 0;
  for (int distance = 1; distance < size_; distance <<= 1, ++round) {
    absl::Status status;
    ZT_GLOO_RETURN_IF_ERROR(status = SendRecv(Slot(seq, kBarrierPhase, round),
                                              (rank_ + distance) % size_, &token, 1,
                                              (rank_ - distance + size_) % size_, &received, 1));
    ZT_RETURN_IF_ERROR(status);
  }
  return absl::OkStatus();
}

}  // namespace zt::sharding
