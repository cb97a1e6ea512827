// linear4bit_bench [--tokens N] [--rounds R] [--threads T] [--tile_kb K]
//
// Times Matmul4bit (worker/model/matmul_4bit.h: NF4, blocksize 64, double quantization) on the
// CPU, forward and backward (grad_input), per weight shape [out, in] of Qwen2.5-0.5B (q/o
// 896x896, gate/up 4864x896, down 896x4864) and compute dtype (bf16, fp32), for both kernels:
// dequantize the whole weight then one matmul, and row tiles of about --tile_kb KiB
// dequantized into a reused buffer, each multiplied into its slice of the output. Each round
// runs every kernel once (interleaved); each reports its fastest round, in milliseconds.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "worker/model/matmul_4bit.h"
#include "worker/model/packed4bit_weight.h"

namespace {

using zt::worker::model::Matmul4bit;
using zt::worker::model::Matmul4bitKernel;
using zt::worker::model::Matmul4bitKernelName;
using zt::worker::model::Matmul4bitOptions;
using zt::worker::model::Packed4bitWeight;

struct BenchOptions {
  int64_t tokens = 512;
  int rounds = 5;
  int threads = 0;  // 0: LibTorch's default
  int64_t tile_kb = 256;
};

BenchOptions ParseArgs(int argc, char** argv) {
  BenchOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const long long value = std::atoll(argv[i + 1]);
    if (flag == "--tokens") {
      options.tokens = value;
    } else if (flag == "--rounds") {
      options.rounds = static_cast<int>(value);
    } else if (flag == "--threads") {
      options.threads = static_cast<int>(value);
    } else if (flag == "--tile_kb") {
      options.tile_kb = value;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  return options;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

struct Timing {
  double forward = 1e30;
  double backward = 1e30;
};

// One forward and one backward of `kernel`, keeping the faster of each in `best`.
void RunOnce(const at::Tensor& x, const at::Tensor& grad, const Packed4bitWeight& w,
             const Matmul4bitOptions& options, Timing& best) {
  x.mutable_grad() = at::Tensor();
  auto start = std::chrono::steady_clock::now();
  at::Tensor y = Matmul4bit(x, w, at::Tensor(), options);
  best.forward = std::min(best.forward, Seconds(start));
  start = std::chrono::steady_clock::now();
  y.backward(grad);
  best.backward = std::min(best.backward, Seconds(start));
}

}  // namespace

int main(int argc, char** argv) {
  const BenchOptions options = ParseArgs(argc, argv);
  if (options.threads > 0) at::set_num_threads(options.threads);
  std::printf(
      "linear4bit_bench: NF4 blocksize 64 double quant, %lld tokens, %d torch threads, "
      "tiles of ~%lld KiB, best of %d rounds\n\n",
      static_cast<long long>(options.tokens), at::get_num_threads(),
      static_cast<long long>(options.tile_kb), options.rounds);
  std::printf("| weight [out, in] | compute | kernel     | forward ms | backward ms |\n");
  std::printf("| ---------------- | ------- | ---------- | ---------- | ----------- |\n");
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{896, 896}, {4864, 896}, {896, 4864}};
  const std::vector<Matmul4bitKernel> kernels = {Matmul4bitKernel::kDequantizeThenMatmul,
                                                 Matmul4bitKernel::kTiled};
  at::manual_seed(0);
  for (const auto& [out, in] : shapes) {
    const Packed4bitWeight w = zt::worker::model::QuantizePacked4bit(
        at::randn({out, in}).mul_(0.02).to(at::kBFloat16), zt::kernels::Quant4Type::kNf4, 64,
        /*double_quant=*/true);
    for (at::ScalarType dtype : {at::kBFloat16, at::kFloat}) {
      const at::Tensor x = at::randn({options.tokens, in}).to(dtype).requires_grad_(true);
      const at::Tensor grad = at::randn({options.tokens, out}).to(dtype);
      std::vector<Timing> best(kernels.size());
      for (int round = 0; round <= options.rounds; ++round) {  // round 0 warms up
        for (size_t k = 0; k < kernels.size(); ++k) {
          Timing timing;
          RunOnce(x, grad, w, {kernels[k], options.tile_kb * 1024}, round == 0 ? timing : best[k]);
        }
      }
      for (size_t k = 0; k < kernels.size(); ++k) {
        std::printf("| %4lld x %-4lld      | %-7s | %-10s | %10.2f | %11.2f |\n",
                    static_cast<long long>(out), static_cast<long long>(in),
                    dtype == at::kFloat ? "fp32" : "bf16", Matmul4bitKernelName(kernels[k]),
                    best[k].forward * 1e3, best[k].backward * 1e3);
      }
    }
  }
  return 0;
}
