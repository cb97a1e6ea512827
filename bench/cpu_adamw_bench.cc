// cpu_adamw_bench [--numel N] [--rounds R] [--threads T]
//
// Times CpuAdamWStep on every instruction-set path this CPU has, without and with the bf16
// parameter copy, beside LibTorch's torch::optim::AdamW and the same step written with ATen ops
// (torch.optim.AdamW's single-tensor algorithm; LibTorch's C++ AdamW has no fused path) on tensors
// of the same size and the same thread count, and
// beside the host's memory bandwidth measured in the same run: the highest of a STREAM triad
// (a = b + s*c) and an in-place update (a = a + s*b), 12 bytes per element counted as STREAM
// counts, and AdamW's own access pattern without its arithmetic (read p, g, m, v; write p, m,
// v: 28 bytes). Bytes per parameter of the step: 28, and 30 with the bf16 copy.
//
// Every contender runs once per round, rounds interleave them, and each reports its fastest
// round, so load from other processes on a shared machine skews them alike. Ends with
// `cpu_adamw_speedup_vs_torch: X` (torch::optim::AdamW time / best path time without the copy).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <omp.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "kernels/cpu_adamw.h"

namespace {

using zt::kernels::AdamWBuffers;
using zt::kernels::AdamWHyperParams;
using zt::kernels::CpuIsa;

struct BenchOptions {
  int64_t numel = int64_t{1} << 25;  // 32 Mi parameters: 512 MiB of fp32 p, g, m, v
  int rounds = 12;
  int threads = 0;
};

BenchOptions ParseArgs(int argc, char** argv) {
  BenchOptions options;
  options.threads = omp_get_num_procs();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const long long value = std::atoll(argv[i + 1]);
    if (flag == "--numel")
      options.numel = value;
    else if (flag == "--rounds")
      options.rounds = static_cast<int>(value);
    else if (flag == "--threads")
      options.threads = static_cast<int>(value);
    else {
      std::fprintf(stderr, "unknown flag %s; expected --numel, --rounds or --threads\n",
                   flag.c_str());
      std::exit(2);
    }
  }
  if (options.numel <= 0 || options.rounds <= 0 || options.threads <= 0) {
    std::fprintf(stderr, "--numel, --rounds and --threads must be positive\n");
    std::exit(2);
  }
  return options;
}

struct Contender {
  std::string name;
  std::string copy;  // "bf16", "none", or "-" for bandwidth kernels
  double bytes_per_element;
  std::function<void()> run;
  double best_seconds = 1e30;
};

void TorchStep(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v,
               const AdamWHyperParams& h) {
  p.mul_(1 - double{h.lr} * h.weight_decay);
  m.mul_(h.beta1).add_(g, 1 - double{h.beta1});
  v.mul_(h.beta2).addcmul_(g, g, 1 - double{h.beta2});
  const double bc1 = 1 - std::pow(double{h.beta1}, double(h.step));
  const double bc2 = 1 - std::pow(double{h.beta2}, double(h.step));
  at::Tensor denom = (v.sqrt() / std::sqrt(bc2)).add_(h.eps);
  p.addcdiv_(m, denom, -(double{h.lr} / bc1));
}

// The bandwidth kernels, on buffers of their own (`a`, `b`, `c`) or on the optimizer's.
void Triad(float* a, const float* b, const float* c, int64_t n, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] = b[i] + 3.0f * c[i];
}

void Update(float* a, const float* b, int64_t n, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] = a[i] + 0.5f * b[i];
}

void AdamWPattern(float* p, const float* g, float* m, float* v, int64_t n, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    m[i] = m[i] * 0.5f + gi;
    v[i] = v[i] * 0.5f + gi;
    p[i] = p[i] - 0.25f * gi;
  }
}

// One CpuAdamWStep contender per supported path, without and with the bf16 copy.
void AddKernelContenders(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v,
                         at::Tensor& copy, int threads, const AdamWHyperParams& hyper,
                         std::vector<Contender>& contenders) {
  const int64_t n = p.numel();
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (!zt::kernels::CpuSupports(isa)) continue;
    for (bool with_copy : {false, true}) {
      zt::kernels::CpuAdamWOptions kernel_options;
      kernel_options.force_isa = true;
      kernel_options.isa = isa;
      kernel_options.num_threads = threads;
      AdamWBuffers buffers{p.data_ptr<float>(),
                           g.data_ptr<float>(),
                           m.data_ptr<float>(),
                           v.data_ptr<float>(),
                           n,
                           with_copy ? copy.data_ptr() : nullptr};
      contenders.push_back({zt::kernels::CpuIsaName(isa), with_copy ? "bf16" : "none",
                            with_copy ? 30.0 : 28.0, [&hyper, buffers, kernel_options] {
                              zt::kernels::CpuAdamWStep(buffers, hyper, kernel_options);
                            }});
    }
  }
}

// Every contender once per round, rounds interleaved; round 0 warms up, untimed.
void RunInterleaved(std::vector<Contender>& contenders, int rounds, AdamWHyperParams& hyper) {
  for (int round = 0; round <= rounds; ++round) {  // round 0 warms up, untimed
    for (Contender& contender : contenders) {
      hyper.step = round + 1;
      const auto start = std::chrono::steady_clock::now();
      contender.run();
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (round > 0) contender.best_seconds = std::min(contender.best_seconds, seconds);
    }
  }
}

void PrintTable(const std::vector<Contender>& contenders, const BenchOptions& options) {
  const int64_t n = options.numel;
  const int threads = options.threads;
  double bandwidth = 0, torch_seconds = 0, best_seconds = 1e30;
  for (const Contender& c : contenders) {
    if (c.copy == "-") bandwidth = std::max(bandwidth, c.bytes_per_element * n / c.best_seconds);
    const bool torch_row = c.name == "torch::optim" || c.name == "aten reference";
    if (c.name == "torch::optim") torch_seconds = c.best_seconds;
    if (c.copy == "none" && !torch_row) best_seconds = std::min(best_seconds, c.best_seconds);
  }
  std::printf(
      "cpu_adamw_bench: %lld parameters (fp32 state), %d threads, best of %d interleaved rounds\n",
      static_cast<long long>(n), threads, options.rounds);
  std::printf("best path on this CPU: %s; memory bandwidth (highest bw row): %.2f GB/s\n",
              zt::kernels::CpuIsaName(zt::kernels::BestCpuIsa()), bandwidth / 1e9);
  std::printf("| %-17s | copy | ms/step  | Mparams/s | GB/s   | of bw  | vs torch |\n", "path");
  std::printf("|-------------------|------|----------|-----------|--------|--------|----------|\n");
  for (const Contender& c : contenders) {
    const double gbps = c.bytes_per_element * n / c.best_seconds / 1e9;
    std::printf(
        "| %-17s | %-4s | %8.2f | %9.1f | %6.2f | %5.1f%% | %8s |\n", c.name.c_str(),
        c.copy.c_str(), c.best_seconds * 1e3, n / c.best_seconds / 1e6, gbps,
        100.0 * gbps * 1e9 / bandwidth,
        c.copy == "-" ? "-" : std::to_string(torch_seconds / c.best_seconds).substr(0, 5).c_str());
  }
  std::printf("cpu_adamw_speedup_vs_torch: %.2f\n", torch_seconds / best_seconds);
}

}  // namespace

int main(int argc, char** argv) {
  const BenchOptions options = ParseArgs(argc, argv);
  const int64_t n = options.numel;
  const int threads = options.threads;
  at::set_num_threads(threads);
  at::manual_seed(0);
  at::Tensor p = at::randn({n}), g = at::randn({n}) * 1e-2, m = at::zeros({n}), v = at::zeros({n});
  at::Tensor copy = at::empty({n}, at::kBFloat16);
  // The pattern kernel scribbles on scratch state of the same size, so the optimizer's stays sane.
  at::Tensor sp = p.clone(), sm = m.clone(), sv = v.clone(), scratch = at::zeros({n});
  AdamWHyperParams hyper;
  hyper.weight_decay = 0.01f;

  std::vector<Contender> contenders;
  contenders.push_back({"bw: triad", "-", 12, [&] {
                          Triad(scratch.data_ptr<float>(), sp.data_ptr<float>(),
                                sm.data_ptr<float>(), n, threads);
                        }});
  contenders.push_back({"bw: update", "-", 12, [&] {
                          Update(scratch.data_ptr<float>(), sp.data_ptr<float>(), n, threads);
                        }});
  contenders.push_back({"bw: adamw pattern", "-", 28, [&] {
                          AdamWPattern(sp.data_ptr<float>(), g.data_ptr<float>(),
                                       sm.data_ptr<float>(), sv.data_ptr<float>(), n, threads);
                        }});
  at::Tensor p_torch = p.clone().requires_grad_(true);
  p_torch.mutable_grad() = g;
  torch::optim::AdamW optimizer({p_torch}, torch::optim::AdamWOptions(hyper.lr)
                                               .betas({hyper.beta1, hyper.beta2})
                                               .eps(hyper.eps)
                                               .weight_decay(hyper.weight_decay));
  contenders.push_back({"torch::optim", "none", 28, [&] { optimizer.step(); }});
  contenders.push_back({"aten reference", "none", 28, [&] { TorchStep(p, g, m, v, hyper); }});
  AddKernelContenders(p, g, m, v, copy, threads, hyper, contenders);

  RunInterleaved(contenders, options.rounds, hyper);

  PrintTable(contenders, options);
  return 0;
}
