// Prints which BLAS LibTorch was built with, the OpenMP runtimes this process has mapped and
// how fast a CPU matmul runs, and exits 1 when LibTorch has no optimized BLAS (it would turn
// minutes of tests into hours) or when two OpenMP runtimes are loaded (two thread pools
// oversubscribe the cores; the build links the wheel's libgomp everywhere).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

namespace {

// The value of KEY=... in at::show_config()'s build settings, or "none".
std::string BuildSetting(const std::string& key) {
  const std::string config = at::show_config();
  const size_t at = config.find(key + "=");
  if (at == std::string::npos) return "none";
  const size_t begin = at + key.size() + 1;
  return config.substr(begin, config.find_first_of(", \n", begin) - begin);
}

// Every distinct file mapped into this process whose name starts with `prefix`.
std::set<std::string> MappedLibraries(const std::string& prefix) {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> found;
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    if (path.compare(path.rfind('/') + 1, prefix.size(), prefix) == 0) found.insert(path);
  }
  return found;
}

}  // namespace

int main() {
  at::set_num_threads(1);
  const int64_t n = 512;
  at::Tensor a = at::randn({n, n});
  at::Tensor b = at::randn({n, n});
  at::matmul(a, b);  // warm-up
  const int repeats = 5;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) at::matmul(a, b);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double gflops = 2.0 * n * n * n * repeats / seconds / 1e9;
  at::parallel_for(0, 64, 1, [](int64_t, int64_t) {});  // make sure OpenMP is loaded

  const std::string blas = BuildSetting("BLAS_INFO");
  const std::set<std::string> openmp = MappedLibraries("libgomp");
  std::printf("blas: %s\nblas_sgemm_512_1thread_gflops: %.1f\n", blas.c_str(), gflops);
  for (const std::string& path : openmp) std::printf("openmp: %s\n", path.c_str());
  int status = 0;
  if (blas == "none" || blas == "generic" || blas == "blas") {
    std::fprintf(stderr, "error: LibTorch was built without an optimized BLAS (BLAS_INFO=%s); "
                         "scripts/setup.sh installs the PyPI wheel, which has MKL\n", blas.c_str());
    status = 1;
  }
  if (openmp.size() > 1) {
    std::fprintf(stderr, "error: %zu OpenMP runtimes are loaded; zerotune's kernels must link the "
                         "wheel's libgomp (cmake/ZtDependencies.cmake, zt_openmp)\n", openmp.size());
    status = 1;
  }
  return status;
}
