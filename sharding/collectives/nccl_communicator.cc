#include "sharding/collectives/nccl_communicator.h"

#include <sched.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/backoff.h"
#include "common/cuda_check.h"
#include "common/nccl_check.h"
#include "common/status_macros.h"

namespace zt::sharding {
namespace {

// One enqueued op: the event recorded after it on the communicator's stream.
struct NcclOpState {
  std::string description;
  cudaEvent_t done = nullptr;
  ~NcclOpState() {
    if (done != nullptr) cudaEventDestroy(done);
  }
  bool Finished() const { return cudaEventQuery(done) != cudaErrorNotReady; }
};

class NcclWork final : public Work {
 public:
  NcclWork(std::shared_ptr<NcclOpState> op, std::shared_ptr<NcclAbortState> abort_state,
           std::function<cudaStream_t()> current_stream)
      : op_(std::move(op)), abort_state_(std::move(abort_state)),
        current_stream_(std::move(current_stream)) {}

  absl::Status WaitOnStream(absl::Time /*deadline: the watchdog's*/) override {
    absl::Status aborted = abort_state_->Get();
    if (!aborted.ok()) {
      return absl::AbortedError(absl::StrCat(op_->description, " failed: ", aborted.message()));
    }
    cudaStream_t consumer = current_stream_ ? current_stream_() : nullptr;
    ZT_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(consumer, op_->done, 0));
    return absl::OkStatus();
  }

  absl::Status Wait(absl::Time deadline) override {
    common::Backoff backoff({absl::Microseconds(20), absl::Milliseconds(2), 2.0});
    for (;;) {
      absl::Status aborted = abort_state_->Get();
      if (!aborted.ok()) {
        return absl::AbortedError(absl::StrCat(op_->description, " failed: ", aborted.message()));
      }
      const cudaError_t query = cudaEventQuery(op_->done);
      if (query == cudaSuccess) return absl::OkStatus();
      if (query != cudaErrorNotReady) {
        return common::CudaError(query, "cudaEventQuery(op done)", __FILE__, __LINE__);
      }
      if (!backoff.SleepBefore(deadline)) {
        return absl::DeadlineExceededError(
            absl::StrCat(op_->description,
                         " did not complete by its deadline (a peer has not joined it, or "
                         "hangs); abort the communicator"));
      }
    }
  }

  bool IsCompleted() override { return !abort_state_->Get().ok() || op_->Finished(); }

 private:
  std::shared_ptr<NcclOpState> op_;
  std::shared_ptr<NcclAbortState> abort_state_;
  std::function<cudaStream_t()> current_stream_;  // NcclOptions::current_stream
};

absl::StatusOr<ncclUniqueId> ExchangeUniqueId(Store& store, int rank, const std::string& key,
                                              absl::Time deadline) {
  ncclUniqueId id;
  if (rank == 0) {
    ZT_NCCL_RETURN_IF_ERROR(ncclGetUniqueId(&id), nullptr);
    ZT_RETURN_IF_ERROR(store.Set(key, absl::string_view(id.internal, sizeof id.internal)));
    return id;
  }
  ZT_ASSIGN_OR_RETURN(std::string bytes, store.Get(key, deadline));
  if (bytes.size() != sizeof id.internal) {
    return absl::FailedPreconditionError(absl::StrCat("nccl: the unique id under key '", key,
                                                      "' has ", bytes.size(), " bytes, expected ",
                                                      sizeof id.internal));
  }
  std::memcpy(id.internal, bytes.data(), sizeof id.internal);
  return id;
}

// ncclCommInitRankConfig with blocking = 0, polled until done, failed, or past `deadline`.
absl::StatusOr<ncclComm_t> InitNonBlocking(const ncclUniqueId& id, int rank, int world,
                                           absl::Time deadline) {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  ZT_NCCL_RETURN_IF_ERROR(ncclCommInitRankConfig(&comm, world, id, rank, &config), comm);
  common::Backoff backoff({absl::Microseconds(100), absl::Milliseconds(2), 2.0});
  for (;;) {
    ncclResult_t state = ncclInProgress;
    const ncclResult_t polled = ncclCommGetAsyncError(comm, &state);
    if (polled != ncclSuccess) state = polled;
    if (state == ncclSuccess) return comm;
    if (state != ncclInProgress) {
      absl::Status error =
          common::NcclError(state, comm, "ncclCommInitRankConfig", __FILE__, __LINE__);
      ncclCommAbort(comm);
      return error;
    }
    if (!backoff.SleepBefore(deadline)) {
      ncclCommAbort(comm);
      return absl::DeadlineExceededError(absl::StrCat(
          "nccl: init of rank ", rank, " of ", world,
          " did not finish by the deadline (not every rank joined); the communicator was aborted"));
    }
  }
}

absl::StatusOr<ncclDataType_t> ReduceType(const char* op, at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return ncclFloat32;
    case at::kDouble:
      return ncclFloat64;
    case at::kHalf:
      return ncclFloat16;
    case at::kBFloat16:
      return ncclBfloat16;
    case at::kInt:
      return ncclInt32;
    case at::kLong:
      return ncclInt64;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": dtype ", c10::toString(dtype),
                       " cannot be reduced; expected Float, Double, BFloat16, Half, Int or Long"));
  }
}

ncclRedOp_t ToNcclOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kAvg:
      return ncclAvg;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kMin:
      return ncclMin;
  }
  return ncclSum;
}

std::string Shape(const at::Tensor& tensor) {
  return absl::StrCat(c10::toString(tensor.scalar_type()), "[", tensor.numel(), "]");
}

}  // namespace

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    std::shared_ptr<Store> store, int rank, int world_size, int device, absl::Time deadline,
    NcclOptions options) {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("nccl: rank ", rank, " is not a rank of a world of size ", world_size));
  }
  ZT_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  ZT_ASSIGN_OR_RETURN(ncclUniqueId id, ExchangeUniqueId(*store, rank, options.key, deadline));
  ZT_ASSIGN_OR_RETURN(ncclComm_t comm, InitNonBlocking(id, rank, world_size, deadline));
  std::unique_ptr<NcclCommunicator> communicator(
      new NcclCommunicator(rank, world_size, device, comm, std::move(options)));
  ZT_RETURN_IF_ERROR(communicator->InitResources());
  return communicator;
}

NcclCommunicator::NcclCommunicator(int rank, int size, int device, ncclComm_t comm,
                                   NcclOptions options)
    : rank_(rank), size_(size), device_(device), options_(std::move(options)), comm_(comm) {}

absl::Status NcclCommunicator::InitResources() {
  ZT_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  ZT_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
  ZT_CUDA_RETURN_IF_ERROR(cudaMalloc(reinterpret_cast<void**>(&barrier_buffer_), sizeof(float)));
  CommWatchdog::Hooks hooks;
  hooks.poll = [this] { return PollAsyncError(); };
  hooks.abort = [this](absl::Status reason) { Abort(std::move(reason)); };
  watchdog_ = std::make_unique<CommWatchdog>(absl::StrCat("nccl rank ", rank_, "/", size_),
                                             options_.watchdog_interval, std::move(hooks));
  return absl::OkStatus();
}

NcclCommunicator::~NcclCommunicator() {
  watchdog_.reset();  // joins: no hook runs after this
  {
    absl::MutexLock lock(&mu_);
    if (!comm_aborted_ && comm_ != nullptr) {
      // Graceful: flush (non-blocking, so polled), then free; abort if the flush fails or hangs.
      ncclResult_t state = ncclCommFinalize(comm_);
      const absl::Time deadline = absl::Now() + absl::Seconds(30);
      while (state == ncclInProgress && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(1));
        if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) state = ncclInternalError;
      }
      if (state == ncclSuccess) {
        ncclCommDestroy(comm_);
      } else {
        ncclCommAbort(comm_);
      }
    }
  }
  if (barrier_buffer_ != nullptr) cudaFree(barrier_buffer_);
  if (ready_ != nullptr) cudaEventDestroy(ready_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void NcclCommunicator::Abort(absl::Status reason) {
  {
    absl::MutexLock lock(&abort_state_->mu);
    if (!abort_state_->status.ok()) return;
    abort_state_->status = absl::AbortedError(absl::StrCat(
        "communicator aborted: ", reason.ok() ? "no reason given" : reason.ToString()));
  }
  abort_requested_ = true;  // an enqueue polling under mu_ gives up
  absl::MutexLock lock(&mu_);
  if (!comm_aborted_ && comm_ != nullptr) {
    ncclCommAbort(comm_);
    comm_aborted_ = true;
  }
}

absl::Status NcclCommunicator::PollAsyncError() {
  absl::MutexLock lock(&mu_);
  if (comm_aborted_) return absl::OkStatus();
  ncclResult_t state = ncclSuccess;
  ZT_NCCL_RETURN_IF_ERROR(ncclCommGetAsyncError(comm_, &state), comm_);
  if (state != ncclSuccess && state != ncclInProgress) {
    return common::NcclError(state, comm_, "ncclCommGetAsyncError", __FILE__, __LINE__);
  }
  return absl::OkStatus();
}

absl::Status NcclCommunicator::AwaitNotInProgress(const std::string& description,
                                                  absl::Time deadline) {
  for (;;) {
    ncclResult_t state = ncclSuccess;
    ZT_NCCL_RETURN_IF_ERROR(ncclCommGetAsyncError(comm_, &state), comm_);
    if (state == ncclSuccess) return absl::OkStatus();
    if (state != ncclInProgress) {
      return common::NcclError(state, comm_, description.c_str(), __FILE__, __LINE__);
    }
    if (abort_requested_) return abort_state_->Get();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(description, ": enqueue still in progress"));
    }
    sched_yield();
  }
}

absl::Status NcclCommunicator::CheckTensor(const char* op, const char* name,
                                           const at::Tensor& tensor) const {
  ZT_RETURN_IF_ERROR(CheckCollectiveTensor(op, name, tensor));
  if (!tensor.device().is_cuda() || tensor.device().index() != device_) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", name, " is on ", tensor.device().str(),
                     " but this NCCL communicator runs on cuda:", device_));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Work>> NcclCommunicator::Launch(
    std::string description, const std::function<ncclResult_t(cudaStream_t)>& call) {
  absl::MutexLock lock(&mu_);
  absl::Status aborted = abort_state_->Get();
  auto op = std::make_shared<NcclOpState>();
  op->description =
      absl::StrCat("nccl rank ", rank_, "/", size_, ": ", description, " (op #", next_seq_++, ")");
  if (!aborted.ok()) {
    return CompletedWork(
        absl::AbortedError(absl::StrCat(op->description, " failed: ", aborted.message())));
  }
  ZT_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  cudaStream_t producer = options_.current_stream ? options_.current_stream() : nullptr;
  ZT_CUDA_RETURN_IF_ERROR(cudaEventRecord(ready_, producer));
  ZT_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(stream_, ready_, 0));
  ZT_NCCL_RETURN_IF_ERROR(call(stream_), comm_);
  const absl::Time deadline = absl::Now() + options_.op_timeout;
  ZT_RETURN_IF_ERROR(AwaitNotInProgress(op->description, deadline));
  ZT_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&op->done, cudaEventDisableTiming));
  ZT_CUDA_RETURN_IF_ERROR(cudaEventRecord(op->done, stream_));
  watchdog_->Track(op->description, deadline, [op] { return op->Finished(); });
  return std::unique_ptr<Work>(std::make_unique<NcclWork>(op, abort_state_, options_.current_stream));
}

absl::StatusOr<std::unique_ptr<Work>> NcclCommunicator::AllReduce(at::Tensor tensor, ReduceOp op) {
  ZT_RETURN_IF_ERROR(CheckTensor("all_reduce", "tensor", tensor));
  ZT_ASSIGN_OR_RETURN(ncclDataType_t type, ReduceType("all_reduce", tensor.scalar_type()));
  void* data = tensor.data_ptr();
  const size_t count = tensor.numel();
  return Launch(absl::StrCat("all_reduce ", ReduceOpName(op), " ", Shape(tensor)),
                [&](cudaStream_t stream) {
                  return ncclAllReduce(data, data, count, type, ToNcclOp(op), comm_, stream);
                });
}

absl::StatusOr<std::unique_ptr<Work>> NcclCommunicator::ReduceScatter(at::Tensor input,
                                                                      at::Tensor output,
                                                                      ReduceOp op) {
  ZT_RETURN_IF_ERROR(CheckReduceScatterShapes(input, output, size_));
  ZT_RETURN_IF_ERROR(CheckTensor("reduce_scatter", "input", input));
  ZT_ASSIGN_OR_RETURN(ncclDataType_t type, ReduceType("reduce_scatter", input.scalar_type()));
  const void* send = input.data_ptr();
  void* recv = output.data_ptr();
  const size_t count = output.numel();
  return Launch(absl::StrCat("reduce_scatter ", ReduceOpName(op), " ", Shape(input)),
                [&](cudaStream_t stream) {
                  return ncclReduceScatter(send, recv, count, type, ToNcclOp(op), comm_, stream);
                });
}

absl::StatusOr<std::unique_ptr<Work>> NcclCommunicator::AllGather(at::Tensor input,
                                                                  at::Tensor output) {
  ZT_RETURN_IF_ERROR(CheckAllGatherShapes(input, output, size_));
  ZT_RETURN_IF_ERROR(CheckTensor("all_gather", "input", input));
  // No arithmetic: every dtype travels as bytes.
  const void* send = input.data_ptr();
  void* recv = output.data_ptr();
  const size_t bytes = input.nbytes();
  return Launch(absl::StrCat("all_gather ", Shape(input)), [&](cudaStream_t stream) {
    return ncclAllGather(send, recv, bytes, ncclUint8, comm_, stream);
  });
}

absl::StatusOr<std::unique_ptr<Work>> NcclCommunicator::Broadcast(at::Tensor tensor, int root) {
  ZT_RETURN_IF_ERROR(CheckTensor("broadcast", "tensor", tensor));
  ZT_RETURN_IF_ERROR(CheckRoot("broadcast", root, size_));
  void* data = tensor.data_ptr();
  const size_t bytes = tensor.nbytes();
  return Launch(absl::StrCat("broadcast from rank ", root, " ", Shape(tensor)),
                [&](cudaStream_t stream) {
                  return ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream);
                });
}

absl::StatusOr<std::unique_ptr<Work>> NcclCommunicator::Barrier() {
  return Launch("barrier", [&](cudaStream_t stream) {
    return ncclAllReduce(barrier_buffer_, barrier_buffer_, 1, ncclFloat32, ncclSum, comm_, stream);
  });
}

}  // namespace zt::sharding
