#include "sharding/collectives/communicator_factory.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "sharding/collectives/self_communicator.h"

#if ZT_HAVE_GLOO
#include "sharding/collectives/gloo_communicator.h"
#include "sharding/collectives/host_staged_communicator.h"
#endif
#if ZT_HAVE_NCCL
#include "sharding/collectives/nccl_communicator.h"
#endif
#if ZT_HAVE_MPI
#include "sharding/collectives/mpi_communicator.h"
#endif

namespace zt::sharding {
namespace {

// Unused in a build that has every backend.
[[maybe_unused]] absl::Status NotBuilt(const std::string& backend, const char* library) {
  return absl::UnimplementedError(absl::StrCat("communicator backend '", backend,
                                               "' is not in this build (built without ", library,
                                               "); available: ", AvailableBackends()));
}

absl::Status CheckSpec(const CommunicatorSpec& spec) {
  if (spec.world_size < 1 || spec.rank < 0 || spec.rank >= spec.world_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "communicator: rank ", spec.rank, " is not a rank of a world of size ", spec.world_size));
  }
  const bool needs_store =
      spec.backend == "gloo" || spec.backend == "nccl" || spec.backend == "host-staged";
  if (needs_store && spec.store == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("communicator '", spec.backend, "' needs a store for its rendezvous"));
  }
  const bool needs_device = spec.backend == "nccl" || spec.backend == "host-staged";
  if (needs_device && spec.device < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "communicator '", spec.backend, "' moves CUDA tensors: give a device index >= 0"));
  }
  return absl::OkStatus();
}

std::string ResolveAuto(const CommunicatorSpec& spec) {
  if (spec.world_size == 1) return "self";
  return spec.device >= 0 ? "nccl" : "gloo";
}

#if ZT_HAVE_GLOO
absl::StatusOr<std::unique_ptr<GlooCommunicator>> CreateGloo(const CommunicatorSpec& spec,
                                                             absl::Time deadline) {
  GlooOptions options;
  options.hostname = spec.hostname;
  options.interface = spec.interface;
  options.key_prefix = spec.key_prefix + "/gloo";
  return GlooCommunicator::Create(spec.store, spec.rank, spec.world_size, deadline, options);
}
#endif

}  // namespace

std::string AvailableBackends() {
  std::string names = "self";
#if ZT_HAVE_GLOO
  absl::StrAppend(&names, ", gloo, host-staged");
#endif
#if ZT_HAVE_NCCL
  absl::StrAppend(&names, ", nccl");
#endif
#if ZT_HAVE_MPI
  absl::StrAppend(&names, ", mpi");
#endif
  return names;
}

absl::StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(const CommunicatorSpec& given,
                                                                 absl::Time deadline) {
  CommunicatorSpec spec = given;
  if (spec.backend == "auto") spec.backend = ResolveAuto(spec);
  ZT_RETURN_IF_ERROR(CheckSpec(spec));
  if (spec.backend == "self") {
    if (spec.world_size != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("communicator 'self' is for world size 1, not ", spec.world_size));
    }
    return std::unique_ptr<Communicator>(std::make_unique<SelfCommunicator>());
  }
  if (spec.backend == "gloo" || spec.backend == "host-staged") {
#if ZT_HAVE_GLOO
    ZT_ASSIGN_OR_RETURN(std::unique_ptr<GlooCommunicator> gloo, CreateGloo(spec, deadline));
    if (spec.backend == "gloo") return std::unique_ptr<Communicator>(std::move(gloo));
    return std::unique_ptr<Communicator>(std::make_unique<HostStagedCommunicator>(std::move(gloo)));
#else
    return NotBuilt(spec.backend, "Gloo");
#endif
  }
  if (spec.backend == "nccl") {
#if ZT_HAVE_NCCL
    NcclOptions options;
    options.key = spec.key_prefix + "/nccl/unique_id";
    ZT_ASSIGN_OR_RETURN(std::unique_ptr<NcclCommunicator> nccl,
                        NcclCommunicator::Create(spec.store, spec.rank, spec.world_size,
                                                 spec.device, deadline, std::move(options)));
    return std::unique_ptr<Communicator>(std::move(nccl));
#else
    return NotBuilt(spec.backend, "NCCL");
#endif
  }
  if (spec.backend == "mpi") {
#if ZT_HAVE_MPI
    ZT_ASSIGN_OR_RETURN(std::unique_ptr<MpiCommunicator> mpi, MpiCommunicator::Create());
    if (mpi->Size() != spec.world_size || mpi->Rank() != spec.rank) {
      return absl::FailedPreconditionError(
          absl::StrCat("communicator 'mpi': MPI says rank ", mpi->Rank(), " of ", mpi->Size(),
                       " but this rank was assigned ", spec.rank, " of ", spec.world_size));
    }
    return std::unique_ptr<Communicator>(std::move(mpi));
#else
    return NotBuilt(spec.backend, "MPI");
#endif
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown communicator backend '", spec.backend,
                                                 "'; expected auto, ", AvailableBackends()));
}

}  // namespace zt::sharding
