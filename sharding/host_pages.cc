#include "sharding/host_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace zt::sharding {

void ReleaseHostPages(const at::Tensor& tensor) {
#ifdef MADV_PAGEOUT
  if (!tensor.defined() || !tensor.device().is_cpu() || tensor.nbytes() == 0) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(tensor.data_ptr());
  const uintptr_t first = (begin + page - 1) / page * page;  // whole pages only: neighbours stay
  const uintptr_t last = (begin + tensor.nbytes()) / page * page;
  if (last > first) {
    ::madvise(reinterpret_cast<void*>(first), last - first, MADV_PAGEOUT);  // a hint
  }
#else
  (void)tensor;
#endif
}

}  // namespace zt::sharding
