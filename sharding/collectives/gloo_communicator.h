// Collectives on CPU tensors over Gloo's TCP transport (Debian's libgloo). Rendezvous goes
// through a zerotune Store (pass one scoped by JobStore(job, generation), so a restarted rank
// never meets an older generation's addresses); the ops are GlooRing's, run one at a time on
// the communicator's worker thread, so every call returns at once with a Work.
//
// Dtypes: any for all_gather/broadcast; fp32, fp64, bf16, fp16, int32, int64 for reductions
// (16-bit floats reduce in fp32 per step). Tensors must be contiguous CPU tensors.
// Deadlines: Create() returns DeadlineExceeded naming the missing rank's key when a rank does
// not arrive in time; Work::Wait(deadline) returns DeadlineExceeded when an op does not
// finish (the caller then calls Abort(), which interrupts the op at once). Besides, an op
// that makes no progress for `op_timeout` fails on its own (Gloo then fails every connection).
// A peer that dies mid-op fails the op with Aborted. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "sharding/collectives/communicator.h"
#include "sharding/collectives/store.h"

namespace gloo {
class Context;
}  // namespace gloo

namespace zt::sharding {

class GlooRing;
class OpQueue;

struct GlooOptions {
  // The address this rank listens on and publishes: a host name or IP ("127.0.0.1" for one
  // machine), or else a network interface name in `interface`; both empty = this host's name.
  std::string hostname;
  std::string interface;
  // Keys are "<key_prefix>/<rank>" inside the given store; one prefix per communicator.
  std::string key_prefix = "gloo";
  // An op without progress for this long fails by itself (a backstop; Wait()'s deadline and
  // Abort() are the normal way out).
  absl::Duration op_timeout = absl::Minutes(10);
};

class GlooCommunicator final : public Communicator {
 public:
  // Blocks until every rank joined the full mesh or `deadline` passes.
  static absl::StatusOr<std::unique_ptr<GlooCommunicator>> Create(std::shared_ptr<Store> store,
                                                                  int rank, int world_size,
                                                                  absl::Time deadline,
                                                                  GlooOptions options = {});
  // Aborts what is still pending (peers in an op with this rank then fail) and joins the worker.
  ~GlooCommunicator() override;

  int Rank() const override { return rank_; }
  int Size() const override { return size_; }
  std::string BackendName() const override { return "gloo"; }

  absl::StatusOr<std::unique_ptr<Work>> AllReduce(at::Tensor tensor, ReduceOp op) override;
  absl::StatusOr<std::unique_ptr<Work>> ReduceScatter(at::Tensor input, at::Tensor output,
                                                      ReduceOp op) override;
  absl::StatusOr<std::unique_ptr<Work>> AllGather(at::Tensor input, at::Tensor output) override;
  absl::StatusOr<std::unique_ptr<Work>> Broadcast(at::Tensor tensor, int root) override;
  absl::StatusOr<std::unique_ptr<Work>> Barrier() override;
  void Abort(absl::Status reason) override;

 private:
  GlooCommunicator(int rank, int size, std::shared_ptr<gloo::Context> context,
                   absl::Duration op_timeout);

  // Numbers the op (same number on every rank) and queues `run(seq)` on the worker.
  std::unique_ptr<Work> Submit(std::string description,
                               std::function<absl::Status(uint64_t seq)> run);

  const int rank_;
  const int size_;
  std::shared_ptr<gloo::Context> context_;
  std::unique_ptr<GlooRing> ring_;
  absl::Mutex seq_mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(seq_mu_) = 0;
  // Last: destroyed first, so the worker is joined before the ring and context go.
  std::unique_ptr<OpQueue> queue_;
};

// InvalidArgument naming `op` and `name` unless `tensor` is on the CPU.
absl::Status CheckCpuTensor(const char* backend, const char* op, const char* name,
                            const at::Tensor& tensor);

}  // namespace zt::sharding
