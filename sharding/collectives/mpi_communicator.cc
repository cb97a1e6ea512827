#include "sharding/collectives/mpi_communicator.h"

#include <sched.h>

#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/backoff.h"
#include "common/mpi_check.h"
#include "common/status_macros.h"
#include "sharding/collectives/host_reduce.h"
#include "sharding/collectives/op_queue.h"

namespace zt::sharding {
namespace {

// MPI has no 16-bit float types: they travel as MPI_UINT16_T and reduce through these.
template <at::ScalarType kDtype, ReduceOp kOp>
void Reduce16(void* in, void* inout, int* len, MPI_Datatype* /*type*/) {
  Combine(kDtype, kOp, inout, inout, in, static_cast<size_t>(*len));
}

template <at::ScalarType kDtype>
MPI_User_function* Reduce16For(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMax:
      return &Reduce16<kDtype, ReduceOp::kMax>;
    case ReduceOp::kMin:
      return &Reduce16<kDtype, ReduceOp::kMin>;
    default:
      return &Reduce16<kDtype, ReduceOp::kSum>;  // kAvg: sum, divided afterwards
  }
}

// The datatype and operation of one reduction; a user-defined op is freed with it.
class MpiReduction {
 public:
  static absl::StatusOr<MpiReduction> Make(at::ScalarType dtype, ReduceOp op) {
    MpiReduction r;
    if (dtype == at::kBFloat16 || dtype == at::kHalf) {
      r.type_ = MPI_UINT16_T;
      MPI_User_function* fn =
          dtype == at::kBFloat16 ? Reduce16For<at::kBFloat16>(op) : Reduce16For<at::kHalf>(op);
      ZT_MPI_RETURN_IF_ERROR(MPI_Op_create(fn, /*commute=*/1, &r.op_));
      r.user_op_ = true;
      return r;
    }
    r.type_ = dtype == at::kFloat    ? MPI_FLOAT
              : dtype == at::kDouble ? MPI_DOUBLE
              : dtype == at::kInt    ? MPI_INT32_T
                                     : MPI_INT64_T;
    r.op_ = op == ReduceOp::kMax ? MPI_MAX : op == ReduceOp::kMin ? MPI_MIN : MPI_SUM;
    return r;
  }
  MpiReduction(MpiReduction&& other) noexcept { *this = std::move(other); }
  MpiReduction& operator=(MpiReduction&& other) noexcept {
    std::swap(type_, other.type_);
    std::swap(op_, other.op_);
    std::swap(user_op_, other.user_op_);
    return *this;
  }
  ~MpiReduction() {
    if (user_op_) MPI_Op_free(&op_);
  }
  // An abandoned collective may still use the op: never free it then.
  void Leak() { user_op_ = false; }
  MPI_Datatype type() const { return type_; }
  MPI_Op op() const { return op_; }

 private:
  MpiReduction() = default;
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
  MPI_Op op_ = MPI_OP_NULL;
  bool user_op_ = false;
};

// Element-sized opaque types for the ops that move data without arithmetic.
MPI_Datatype OpaqueType(const at::Tensor& tensor, int64_t* count) {
  *count = tensor.numel();
  switch (tensor.element_size()) {
    case 2:
      return MPI_UINT16_T;
    case 4:
      return MPI_UINT32_T;
    case 8:
      return MPI_UINT64_T;
    default:
      *count = static_cast<int64_t>(tensor.nbytes());
      return MPI_BYTE;
  }
}

absl::Status CheckCount(const char* op, int64_t count) {
  if (count > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", count,
                                                   " elements per call exceed MPI's "
                                                   "int count limit ",
                                                   INT_MAX, "; split the tensor"));
  }
  return absl::OkStatus();
}

absl::Status CheckMpiTensor(const char* op, const char* name, const at::Tensor& tensor) {
  ZT_RETURN_IF_ERROR(CheckCollectiveTensor(op, name, tensor));
  if (!tensor.device().is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " is on ", tensor.device().str(),
                                                   " but the MPI communicator takes CPU tensors"));
  }
  return absl::OkStatus();
}

std::string Shape(const at::Tensor& tensor) {
  return absl::StrCat(c10::toString(tensor.scalar_type()), "[", tensor.numel(), "]");
}

}  // namespace

absl::StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create(MPI_Comm parent) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    return absl::FailedPreconditionError(
        "mpi: MPI is not initialised; call MPI_Init_thread (MPI_THREAD_SERIALIZED or better) "
        "first");
  }
  int provided = MPI_THREAD_SINGLE;
  ZT_MPI_RETURN_IF_ERROR(MPI_Query_thread(&provided));
  if (provided < MPI_THREAD_SERIALIZED) {
    return absl::FailedPreconditionError(
        absl::StrCat("mpi: MPI was initialised with thread level ", provided,
                     "; the communicator's worker thread needs MPI_THREAD_SERIALIZED or better"));
  }
  MPI_Comm comm = MPI_COMM_NULL;
  ZT_MPI_RETURN_IF_ERROR(MPI_Comm_dup(parent, &comm));
  ZT_MPI_RETURN_IF_ERROR(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
  int rank = 0, size = 0;
  ZT_MPI_RETURN_IF_ERROR(MPI_Comm_rank(comm, &rank));
  ZT_MPI_RETURN_IF_ERROR(MPI_Comm_size(comm, &size));
  return std::unique_ptr<MpiCommunicator>(new MpiCommunicator(comm, rank, size));
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, int rank, int size)
    : comm_(comm),
      rank_(rank),
      size_(size),
      queue_(std::make_unique<OpQueue>(absl::StrCat("mpi rank ", rank, "/", size))) {}

MpiCommunicator::~MpiCommunicator() {
  Abort(absl::CancelledError("communicator destroyed"));
  queue_.reset();  // joins the worker
  absl::MutexLock lock(&mu_);
  int finalized = 0;
  MPI_Finalized(&finalized);  // freeing after MPI_Finalize would abort the process
  if (!abandoned_ && !finalized) MPI_Comm_free(&comm_);
}

void MpiCommunicator::Abort(absl::Status reason) {
  queue_->Abort(std::move(reason));
  absl::MutexLock lock(&mu_);
  aborted_ = true;
}

absl::Status MpiCommunicator::Complete(MPI_Request* request, const char* what) {
  common::Backoff backoff({absl::Microseconds(10), absl::Milliseconds(1), 2.0});
  for (int polls = 0;; ++polls) {
    int done = 0;
    ZT_MPI_RETURN_IF_ERROR(MPI_Test(request, &done, MPI_STATUS_IGNORE));
    if (done) return absl::OkStatus();
    {
      absl::MutexLock lock(&mu_);
      if (aborted_) {
        abandoned_ = true;
        return absl::AbortedError(absl::StrCat(what, " abandoned in flight"));
      }
    }
    // Spin briefly (MPI progresses inside MPI_Test), then back off to spare the cores.
    if (polls < 2000) {
      sched_yield();
    } else {
      absl::SleepFor(backoff.Next());
    }
  }
}

absl::StatusOr<std::unique_ptr<Work>> MpiCommunicator::AllReduce(at::Tensor tensor, ReduceOp op) {
  ZT_RETURN_IF_ERROR(CheckMpiTensor("all_reduce", "tensor", tensor));
  ZT_RETURN_IF_ERROR(CheckReducibleDtype("all_reduce", tensor.scalar_type()));
  ZT_RETURN_IF_ERROR(CheckCount("all_reduce", tensor.numel()));
  return queue_->Enqueue(
      absl::StrCat("all_reduce ", ReduceOpName(op), " ", Shape(tensor)), [this, tensor, op] {
        ZT_ASSIGN_OR_RETURN(MpiReduction reduction, MpiReduction::Make(tensor.scalar_type(), op));
        MPI_Request request;
        ZT_MPI_RETURN_IF_ERROR(MPI_Iallreduce(MPI_IN_PLACE, tensor.data_ptr(),
                                              static_cast<int>(tensor.numel()), reduction.type(),
                                              reduction.op(), comm_, &request));
        absl::Status status = Complete(&request, "MPI_Iallreduce");
        if (!status.ok()) reduction.Leak();
        ZT_RETURN_IF_ERROR(status);
        if (op == ReduceOp::kAvg)
          DivideBy(tensor.scalar_type(), tensor.data_ptr(), tensor.numel(), size_);
        return absl::OkStatus();
      });
}

absl::StatusOr<std::unique_ptr<Work>> MpiCommunicator::ReduceScatter(at::Tensor input,
                                                                     at::Tensor output,
                                                                     ReduceOp op) {
  ZT_RETURN_IF_ERROR(CheckReduceScatterShapes(input, output, size_));
  ZT_RETURN_IF_ERROR(CheckMpiTensor("reduce_scatter", "input", input));
  ZT_RETURN_IF_ERROR(CheckReducibleDtype("reduce_scatter", input.scalar_type()));
  ZT_RETURN_IF_ERROR(CheckCount("reduce_scatter", output.numel()));
  return queue_->Enqueue(
      absl::StrCat("reduce_scatter ", ReduceOpName(op), " ", Shape(input)),
      [this, input, output, op] {
        ZT_ASSIGN_OR_RETURN(MpiReduction reduction, MpiReduction::Make(input.scalar_type(), op));
        MPI_Request request;
        ZT_MPI_RETURN_IF_ERROR(MPI_Ireduce_scatter_block(
            input.data_ptr(), output.data_ptr(), static_cast<int>(output.numel()), reduction.type(),
            reduction.op(), comm_, &request));
        absl::Status status = Complete(&request, "MPI_Ireduce_scatter_block");
        if (!status.ok()) reduction.Leak();
        ZT_RETURN_IF_ERROR(status);
        if (op == ReduceOp::kAvg)
          DivideBy(output.scalar_type(), output.data_ptr(), output.numel(), size_);
        return absl::OkStatus();
      });
}

absl::StatusOr<std::unique_ptr<Work>> MpiCommunicator::AllGather(at::Tensor input,
                                                                 at::Tensor output) {
  ZT_RETURN_IF_ERROR(CheckAllGatherShapes(input, output, size_));
  ZT_RETURN_IF_ERROR(CheckMpiTensor("all_gather", "input", input));
  int64_t count = 0;
  const MPI_Datatype type = OpaqueType(input, &count);
  ZT_RETURN_IF_ERROR(CheckCount("all_gather", count));
  return queue_->Enqueue(
      absl::StrCat("all_gather ", Shape(input)), [this, input, output, type, count] {
        MPI_Request request;
        ZT_MPI_RETURN_IF_ERROR(MPI_Iallgather(input.data_ptr(), static_cast<int>(count), type,
                                              output.data_ptr(), static_cast<int>(count), type,
                                              comm_, &request));
        return Complete(&request, "MPI_Iallgather");
      });
}

absl::StatusOr<std::unique_ptr<Work>> MpiCommunicator::Broadcast(at::Tensor tensor, int root) {
  ZT_RETURN_IF_ERROR(CheckMpiTensor("broadcast", "tensor", tensor));
  ZT_RETURN_IF_ERROR(CheckRoot("broadcast", root, size_));
  int64_t count = 0;
  const MPI_Datatype type = OpaqueType(tensor, &count);
  ZT_RETURN_IF_ERROR(CheckCount("broadcast", count));
  return queue_->Enqueue(
      absl::StrCat("broadcast from rank ", root, " ", Shape(tensor)),
      [this, tensor, root, type, count] {
        MPI_Request request;
        ZT_MPI_RETURN_IF_ERROR(
            MPI_Ibcast(tensor.data_ptr(), static_cast<int>(count), type, root, comm_, &request));
        return Complete(&request, "MPI_Ibcast");
      });
}

absl::StatusOr<std::unique_ptr<Work>> MpiCommunicator::Barrier() {
  return queue_->Enqueue("barrier", [this] {
    MPI_Request request;
    ZT_MPI_RETURN_IF_ERROR(MPI_Ibarrier(comm_, &request));
    return Complete(&request, "MPI_Ibarrier");
  });
}

}  // namespace zt::sharding
