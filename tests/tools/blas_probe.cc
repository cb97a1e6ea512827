// Prints which BLAS LibTorch's CPU matmul runs on and how fast, and exits 1 on the reference
// BLAS: Debian's libtorch otherwise runs on netlib's reference libblas, ~29x slower, which
// turns minutes of tests into hours.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

namespace {

// The shared library mapped for libblas.so.3, resolved through Debian's alternatives.
std::string LoadedBlas() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    std::string file = path.substr(path.rfind('/') + 1);
    if (file.rfind("libblas", 0) == 0 || file.rfind("libopenblas", 0) == 0 ||
        file.rfind("libmkl", 0) == 0 || file.rfind("libblis", 0) == 0) {
      return path;
    }
  }
  return "none";
}

}  // namespace

int main() {
  at::set_num_threads(1);
  const int64_t n = 512;
  at::Tensor a = at::randn({n, n});
  at::Tensor b = at::randn({n, n});
  at::matmul(a, b);  // warm-up, and makes sure the BLAS is loaded
  const int repeats = 5;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) at::matmul(a, b);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double gflops = 2.0 * n * n * n * repeats / seconds / 1e9;
  std::string blas = LoadedBlas();
  std::printf("blas: %s\nblas_sgemm_512_1thread_gflops: %.1f\n", blas.c_str(), gflops);
  // Debian's netlib reference BLAS is /usr/lib/<triplet>/blas/libblas.so.3; OpenBLAS's
  // alternative lives under openblas-*/.
  const bool reference = blas.find("/blas/libblas") != std::string::npos;
  if (reference) {
    std::fprintf(stderr,
                 "error: LibTorch runs on the reference BLAS (%s); install libopenblas0-pthread "
                 "(scripts/setup.sh does)\n", blas.c_str());
    return 1;
  }
  return 0;
}
