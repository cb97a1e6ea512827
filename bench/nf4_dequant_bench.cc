// nf4_dequant_bench [--numel N] [--rounds R] [--threads T]
//
// Times Dequantize4bitCpu (NF4, blocksize 64) on every instruction-set path this CPU has, into
// fp32, bf16 and fp16, beside a memcpy of the output's size on the same threads. Bytes counted
// per element: 0.5 packed + 4/64 absmax read, 4 or 2 written. Every contender runs once per
// round, rounds interleave them, and each reports its fastest round. Ends with
// `nf4_dequant_bf16_gbps: X` (the best path's bf16 rate).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/nf4.h"

namespace {

using zt::kernels::CpuIsa;
using zt::kernels::FloatFormat;

struct BenchOptions {
  int64_t numel = int64_t{1} << 26;  // 64 Mi weights: 32 MiB packed, 128 MiB of bf16 out
  int rounds = 10;
  int threads = 0;
};

BenchOptions ParseArgs(int argc, char** argv) {
  BenchOptions options;
  options.threads = omp_get_num_procs();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const long long value = std::atoll(argv[i + 1]);
    if (flag == "--numel") {
      options.numel = value;
    } else if (flag == "--rounds") {
      options.rounds = static_cast<int>(value);
    } else if (flag == "--threads") {
      options.threads = static_cast<int>(value);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  return options;
}

struct Contender {
  std::string name;
  double bytes;
  std::function<void()> run;
  double best_seconds = 1e30;
};

}  // namespace

int main(int argc, char** argv) {
  const BenchOptions o = ParseArgs(argc, argv);
  const int64_t n = o.numel;
  constexpr int64_t kBlocksize = 64;
  std::vector<uint8_t> packed(zt::kernels::Quant4PackedBytes(n));
  std::vector<float> absmax(zt::kernels::Quant4Blocks(n, kBlocksize));
  std::mt19937 rng(1);
  for (auto& b : packed) b = static_cast<uint8_t>(rng());
  for (auto& a : absmax) a = 0.01f + static_cast<float>(rng() % 1000) * 1e-4f;
  std::vector<uint8_t> out(n * 4), copy_src(n * 2, 1), copy_dst(n * 2);
  const double read = 0.5 * n + 4.0 * absmax.size();

  std::vector<Contender> contenders;
  contenders.push_back({"memcpy (2 B/elem)", 4.0 * n, [&] {
#pragma omp parallel for num_threads(o.threads) schedule(static)
                          for (int t = 0; t < o.threads; ++t) {
                            const int64_t chunk = (2 * n + o.threads - 1) / o.threads;
                            const int64_t begin = std::min<int64_t>(2 * n, t * chunk);
                            const int64_t end = std::min<int64_t>(2 * n, begin + chunk);
                            std::memcpy(copy_dst.data() + begin, copy_src.data() + begin,
                                        end - begin);
                          }
                        }});
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (!zt::kernels::CpuSupports(isa)) continue;
    for (FloatFormat format : {FloatFormat::kF32, FloatFormat::kBF16, FloatFormat::kF16}) {
      const double bytes = read + static_cast<double>(zt::kernels::BytesPerElement(format)) * n;
      contenders.push_back({std::string(zt::kernels::CpuIsaName(isa)) + " -> " +
                                zt::kernels::FloatFormatName(format),
                            bytes, [&, isa, format] {
                              zt::kernels::Dequantize4bitCpu(
                                  packed.data(), absmax.data(), n, kBlocksize,
                                  zt::kernels::Quant4Type::kNf4, out.data(), format,
                                  {o.threads, true, isa});
                            }});
    }
  }
  for (int round = 0; round < o.rounds; ++round) {
    for (Contender& c : contenders) {
      const auto start = std::chrono::steady_clock::now();
      c.run();
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      c.best_seconds = std::min(c.best_seconds, s);
    }
  }
  std::printf("NF4 dequantization, %lld elements, blocksize 64, %d threads, best of %d\n",
              static_cast<long long>(n), o.threads, o.rounds);
  std::printf("%-22s %10s %10s %12s\n", "path", "ms", "GB/s", "Gelem/s");
  double best_bf16 = 0;
  for (const Contender& c : contenders) {
    const double gbps = c.bytes / c.best_seconds / 1e9;
    std::printf("%-22s %10.2f %10.2f %12.2f\n", c.name.c_str(), c.best_seconds * 1e3, gbps,
                n / c.best_seconds / 1e9);
    if (c.name.find("bf16") != std::string::npos) best_bf16 = std::max(best_bf16, gbps);
  }
  std::printf("nf4_dequant_bf16_gbps: %.2f\n", best_bf16);
  return 0;
}
