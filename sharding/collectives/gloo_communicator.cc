#include "sharding/collectives/gloo_communicator.h"

#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/gloo_check.h"
#include "common/status_macros.h"
#include "sharding/collectives/gloo_ring.h"
#include "sharding/collectives/gloo_store_adapter.h"
#include "sharding/collectives/host_reduce.h"
#include "sharding/collectives/op_queue.h"
#include "sharding/collectives/prefix_store.h"

namespace zt::sharding {
namespace {

std::chrono::milliseconds ToMilliseconds(absl::Duration duration) {
  return std::chrono::milliseconds(std::max<int64_t>(1, absl::ToInt64Milliseconds(duration)));
}

absl::Status ConnectFullMesh(gloo::rendezvous::Context& context, GlooStoreAdapter& store,
                             std::shared_ptr<gloo::transport::Device>& device) {
  ZT_GLOO_RETURN_IF_ERROR(context.connectFullMesh(store, device));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<gloo::transport::Device>> CreateTcpDevice(
    const GlooOptions& options) {
  gloo::transport::tcp::attr attr;
  attr.hostname = options.hostname;
  attr.iface = options.interface;
  std::shared_ptr<gloo::transport::Device> device;
  ZT_GLOO_RETURN_IF_ERROR(device = gloo::transport::tcp::CreateDevice(attr));
  return device;
}

}  // namespace

absl::Status CheckCpuTensor(const char* backend, const char* op, const char* name,
                            const at::Tensor& tensor) {
  ZT_RETURN_IF_ERROR(CheckCollectiveTensor(op, name, tensor));
  if (!tensor.device().is_cpu()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", name, " is on ", tensor.device().str(), " but the ", backend,
                     " communicator takes CPU tensors (use the NCCL or host-staged communicator)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GlooCommunicator>> GlooCommunicator::Create(
    std::shared_ptr<Store> store, int rank, int world_size, absl::Time deadline,
    GlooOptions options) {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("gloo: rank ", rank, " is not a rank of a world of size ", world_size));
  }
  if (options.key_prefix.empty()) {
    return absl::InvalidArgumentError("gloo: GlooOptions.key_prefix must not be empty");
  }
  ZT_ASSIGN_OR_RETURN(std::shared_ptr<gloo::transport::Device> device, CreateTcpDevice(options));
  auto context = std::make_shared<gloo::rendezvous::Context>(rank, world_size);
  // Gloo bounds the address waits and the TCP connects by the context timeout.
  context->setTimeout(ToMilliseconds(deadline - absl::Now()));
  GlooStoreAdapter adapter(std::make_shared<PrefixStore>(std::move(store), options.key_prefix),
                           deadline);
  absl::Status status = ConnectFullMesh(*context, adapter, device);
  if (!status.ok()) {
    absl::Status store_error = adapter.first_error();
    const absl::Status& cause = store_error.ok() ? status : store_error;
    return absl::Status(cause.code(), absl::StrCat("gloo rendezvous of rank ", rank, " of ",
                                                   world_size, " failed: ", cause.message()));
  }
  return std::unique_ptr<GlooCommunicator>(
      new GlooCommunicator(rank, world_size, std::move(context), options.op_timeout));
}

GlooCommunicator::GlooCommunicator(int rank, int size, std::shared_ptr<gloo::Context> context,
                                   absl::Duration op_timeout)
    : rank_(rank),
      size_(size),
      context_(std::move(context)),
      ring_(std::make_unique<GlooRing>(context_, ToMilliseconds(op_timeout))),
      queue_(std::make_unique<OpQueue>(absl::StrCat("gloo rank ", rank, "/", size))) {}

GlooCommunicator::~GlooCommunicator() {
  Abort(absl::CancelledError("communicator destroyed"));
  queue_.reset();
}

void GlooCommunicator::Abort(absl::Status reason) {
  queue_->Abort(std::move(reason));
  ring_->Abort();
}

std::unique_ptr<Work> GlooCommunicator::Submit(std::string description,
                                               std::function<absl::Status(uint64_t seq)> run) {
  uint64_t seq;
  {
    absl::MutexLock lock(&seq_mu_);
    seq = next_seq_++;
  }
  return queue_->Enqueue(absl::StrCat(description, " (op #", seq, ")"),
                         [run = std::move(run), seq] { return run(seq); });
}

absl::StatusOr<std::unique_ptr<Work>> GlooCommunicator::AllReduce(at::Tensor tensor, ReduceOp op) {
  ZT_RETURN_IF_ERROR(CheckCpuTensor("gloo", "all_reduce", "tensor", tensor));
  ZT_RETURN_IF_ERROR(CheckReducibleDtype("all_reduce", tensor.scalar_type()));
  std::string description =
      absl::StrCat("all_reduce ", ReduceOpName(op), " ", c10::toString(tensor.scalar_type()), "[",
                   tensor.numel(), "]");
  return Submit(std::move(description), [this, tensor, op](uint64_t seq) {
    return ring_->AllReduce(seq, tensor.data_ptr(), tensor.numel(), tensor.scalar_type(), op);
  });
}

absl::StatusOr<std::unique_ptr<Work>> GlooCommunicator::ReduceScatter(at::Tensor input,
                                                                      at::Tensor output,
                                                                      ReduceOp op) {
  ZT_RETURN_IF_ERROR(CheckReduceScatterShapes(input, output, size_));
  ZT_RETURN_IF_ERROR(CheckCpuTensor("gloo", "reduce_scatter", "input", input));
  ZT_RETURN_IF_ERROR(CheckReducibleDtype("reduce_scatter", input.scalar_type()));
  std::string description =
      absl::StrCat("reduce_scatter ", ReduceOpName(op), " ", c10::toString(input.scalar_type()),
                   "[", input.numel(), "]");
  return Submit(std::move(description), [this, input, output, op](uint64_t seq) {
    return ring_->ReduceScatter(seq, input.data_ptr(), output.data_ptr(), output.numel(),
                                input.scalar_type(), op);
  });
}

absl::StatusOr<std::unique_ptr<Work>> GlooCommunicator::AllGather(at::Tensor input,
                                                                  at::Tensor output) {
  ZT_RETURN_IF_ERROR(CheckAllGatherShapes(input, output, size_));
  ZT_RETURN_IF_ERROR(CheckCpuTensor("gloo", "all_gather", "input", input));
  std::string description = absl::StrCat("all_gather ", c10::toString(input.scalar_type()), "[",
                                         input.numel(), "] x ", size_);
  return Submit(std::move(description), [this, input, output](uint64_t seq) {
    return ring_->AllGather(seq, input.data_ptr(), output.data_ptr(), input.nbytes());
  });
}

absl::StatusOr<std::unique_ptr<Work>> GlooCommunicator::Broadcast(at::Tensor tensor, int root) {
  ZT_RETURN_IF_ERROR(CheckCpuTensor("gloo", "broadcast", "tensor", tensor));
  ZT_RETURN_IF_ERROR(CheckRoot("broadcast", root, size_));
  std::string description =
      absl::StrCat("broadcast from rank ", root, " ", c10::toString(tensor.scalar_type()), "[",
                   tensor.numel(), "]");
  return Submit(std::move(description), [this, tensor, root](uint64_t seq) {
    return ring_->Broadcast(seq, tensor.data_ptr(), tensor.nbytes(), root);
  });
}

absl::StatusOr<std::unique_ptr<Work>> GlooCommunicator::Barrier() {
  return Submit("barrier", [this](uint64_t seq) { return ring_->Barrier(seq); });
}

}  // namespace zt::sharding
