#include "worker/runtime/mpi_address_broadcast.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <mpi.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace zt::worker {

std::string RoutableAddress() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "127.0.0.1";
  std::string found;
  for (ifaddrs* entry = list; entry != nullptr && found.empty(); entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) continue;
    if ((entry->ifa_flags & IFF_UP) == 0 || (entry->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char text[INET_ADDRSTRLEN] = {};
    const auto* address = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
    if (inet_ntop(AF_INET, &address->sin_addr, text, sizeof text) != nullptr) found = text;
  }
  freeifaddrs(list);
  return found.empty() ? "127.0.0.1" : found;
}

absl::StatusOr<std::string> BroadcastRankZeroAddress(int rank) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized && MPI_Init(nullptr, nullptr) != MPI_SUCCESS) {
    return absl::InternalError("MPI_Init failed while broadcasting rank 0's address (MASTER_ADDR unset)");
  }
  char buffer[256] = {};
  if (rank == 0) {
    const std::string address = RoutableAddress();
    std::strncpy(buffer, address.c_str(), sizeof buffer - 1);
  }
  const int result = MPI_Bcast(buffer, sizeof buffer, MPI_CHAR, 0, MPI_COMM_WORLD);
  if (!initialized) MPI_Finalize();
  if (result != MPI_SUCCESS) {
    return absl::InternalError(absl::StrCat("MPI_Bcast of rank 0's address failed (error ", result,
                                            "); export MASTER_ADDR instead (mpirun -x MASTER_ADDR=...)"));
  }
  return std::string(buffer);
}

}  // namespace zt::worker
