// Ring and tree collectives over a connected Gloo context's point-to-point (unbound buffer)
// transport. Written here rather than taken from Gloo's algorithm classes so that (1) reduce-
// scatter is a true reduce-scatter ((W-1)/W of the data on the wire, no all-reduce), (2) bf16
// and fp16 reduce with fp32 arithmetic, and (3) an op blocked on a dead or absent peer can be
// interrupted at once from another thread (Abort()).
//
// Contract: every method except Abort() is called from one thread at a time (the
// communicator's worker), in the same order with the same sizes on every rank; `seq` is the
// op's sequence number, equal on every rank, so messages of different ops never match. Each
// blocking wait is bounded by the ring's timeout (Gloo then fails every pair of the context).
// Errors: Aborted after Abort(); Gloo's IoException as Aborted (a peer died or timed out), through
// ZT_GLOO_RETURN_IF_ERROR.
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "sharding/collectives/communicator.h"

namespace gloo {
class Context;
namespace transport {
class UnboundBuffer;
}  // namespace transport
}  // namespace gloo

namespace zt::sharding {

class GlooRing {
 public:
  // `timeout` bounds each wait for a peer; past it Gloo fails every pair of the context.
  GlooRing(std::shared_ptr<gloo::Context> context, std::chrono::milliseconds timeout);

  int rank() const { return rank_; }
  int size() const { return size_; }

  // In place on `count` elements of `dtype` at `data`.
  absl::Status AllReduce(uint64_t seq, void* data, size_t count, at::ScalarType dtype, ReduceOp op);
  // `input`: size() chunks of `chunk_count` elements; `output`: this rank's reduced chunk.
  absl::Status ReduceScatter(uint64_t seq, const void* input, void* output, size_t chunk_count,
                             at::ScalarType dtype, ReduceOp op);
  // `output`: size() chunks of `chunk_bytes`; chunk r is rank r's `input`.
  absl::Status AllGather(uint64_t seq, const void* input, void* output, size_t chunk_bytes);
  absl::Status Broadcast(uint64_t seq, void* data, size_t bytes, int root);
  absl::Status Barrier(uint64_t seq);

  // Any thread: the pending wait and every later one return Aborted at once.
  void Abort();

 private:
  // Receives `recv_bytes` from `from` into `recv` while sending `send_bytes` at `send` to `to`;
  // zero-byte directions are skipped. `slot` identifies the message.
  absl::Status SendRecv(uint64_t slot, int to, const void* send, size_t send_bytes, int from,
                        void* recv, size_t recv_bytes);
  absl::Status WaitBoth(gloo::transport::UnboundBuffer* send, gloo::transport::UnboundBuffer* recv);
  // Ring reduce-scatter over chunks described by offsets/counts (elements), in place on `data`:
  // chunk r of rank r ends fully reduced.
  absl::Status RingReduceInPlace(uint64_t seq, char* data, const std::vector<size_t>& offsets,
                                 const std::vector<size_t>& counts, at::ScalarType dtype,
                                 ReduceOp op);
  absl::Status RingGatherInPlace(uint64_t seq, char* data, const std::vector<size_t>& offsets_bytes,
                                 const std::vector<size_t>& sizes_bytes);
  bool Register(gloo::transport::UnboundBuffer* buffer);
  void Unregister(gloo::transport::UnboundBuffer* buffer);
  absl::Status AbortedStatus() const;

  std::shared_ptr<gloo::Context> context_;
  const std::chrono::milliseconds timeout_;
  const int rank_;
  const int size_;
  mutable absl::Mutex mu_;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<gloo::transport::UnboundBuffer*> active_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zt::sharding
