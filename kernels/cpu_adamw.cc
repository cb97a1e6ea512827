#include "kernels/cpu_adamw.h"

#include <omp.h>

#if defined(__x86_64__)
#include <cpuid.h>
#define ZT_CPU_ADAMW_X86 1
#else
#define ZT_CPU_ADAMW_X86 0
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kernels/cpu_adamw_impl.h"

namespace zt::kernels {
namespace {

using adamw_internal::StepConstants;

// Below this many elements per thread, starting more threads costs more than it saves.
constexpr int64_t kMinElementsPerThread = 1 << 15;
// Thread ranges start on multiples of this (a cache line of each buffer, whole vectors).
constexpr int64_t kRangeAlignment = 64;

[[noreturn]] void Fail(const char* message) {
  std::fprintf(stderr, "zt::kernels::CpuAdamWStep: %s\n", message);
  std::abort();
}

#if ZT_CPU_ADAMW_X86
bool OsSavesAvxState(uint64_t mask) {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE)) return false;
  uint32_t lo = 0, hi = 0;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((static_cast<uint64_t>(hi) << 32 | lo) & mask) == mask;
}

bool DetectAvx2() {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool fma_f16c = (ecx & bit_FMA) && (ecx & bit_F16C) && (ecx & bit_AVX);
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return fma_f16c && (ebx & bit_AVX2) && OsSavesAvxState(0x6);  // XMM and YMM state
}

bool DetectAvx512() {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!DetectAvx2() || !__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool features = (ebx & bit_AVX512F) && (ebx & bit_AVX512BW) && (ebx & bit_AVX512VL);
  return features && OsSavesAvxState(0xE6);  // plus opmask and ZMM state
}
#else
bool DetectAvx2() { return false; }
bool DetectAvx512() { return false; }
#endif

StepConstants MakeConstants(const AdamWBuffers& b, const AdamWHyperParams& h) {
  // Bias corrections in double, as DeepSpeed (std::pow promotes) and torch (Python floats).
  const double bc1 = h.bias_correction ? 1.0 - std::pow(double{h.beta1}, double(h.step)) : 1.0;
  const double bc2 = h.bias_correction ? 1.0 - std::pow(double{h.beta2}, double(h.step)) : 1.0;
  StepConstants c;
  c.param = b.param;
  c.grad = b.grad;
  c.exp_avg = b.exp_avg;
  c.exp_avg_sq = b.exp_avg_sq;
  c.copy = static_cast<uint16_t*>(b.param_copy);
  c.copy_kind = b.param_copy == nullptr               ? adamw_internal::kNoCopy
                : b.copy_format == FloatFormat::kBF16 ? adamw_internal::kCopyBf16
                                                      : adamw_internal::kCopyFp16;
  c.beta1 = h.beta1;
  c.one_minus_beta1 = static_cast<float>(1.0 - double{h.beta1});
  c.beta2 = h.beta2;
  c.one_minus_beta2 = static_cast<float>(1.0 - double{h.beta2});
  c.eps = h.eps;
  c.step_size = static_cast<float>(double{h.lr} / bc1);
  c.inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  const bool decay = h.weight_decay != 0.0f;
  c.decay = decay && h.adamw_mode ? static_cast<float>(1.0 - double{h.lr} * h.weight_decay) : 1.0f;
  c.l2 = decay && !h.adamw_mode ? h.weight_decay : 0.0f;
  return c;
}

void CheckArguments(const AdamWBuffers& b, const AdamWHyperParams& h, CpuIsa isa) {
  if (b.numel < 0) Fail("numel is negative");
  if (b.numel > 0 && (!b.param || !b.grad || !b.exp_avg || !b.exp_avg_sq)) {
    Fail("param, grad, exp_avg and exp_avg_sq must be non-null");
  }
  if (h.step < 1) Fail("step must be >= 1 (it is incremented before the update)");
  if (b.param_copy && b.copy_format != FloatFormat::kBF16 && b.copy_format != FloatFormat::kF16) {
    Fail("param_copy must be kBF16 or kF16");
  }
  if (!CpuSupports(isa)) Fail("the forced instruction set is not supported by this CPU");
}

}  // namespace

const char* CpuIsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar:
      return "scalar";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

bool CpuSupports(CpuIsa isa) {
  static const bool avx2 = DetectAvx2();
  static const bool avx512 = DetectAvx512();
  switch (isa) {
    case CpuIsa::kScalar:
      return true;
    case CpuIsa::kAvx2:
      return avx2;
    case CpuIsa::kAvx512:
      return avx512;
  }
  return false;
}

CpuIsa BestCpuIsa() {
  if (CpuSupports(CpuIsa::kAvx512)) return CpuIsa::kAvx512;
  if (CpuSupports(CpuIsa::kAvx2)) return CpuIsa::kAvx2;
  return CpuIsa::kScalar;
}

CpuIsa CpuAdamWStep(const AdamWBuffers& buffers, const AdamWHyperParams& hyper,
                    const CpuAdamWOptions& options) {
  const CpuIsa isa = options.force_isa ? options.isa : BestCpuIsa();
  CheckArguments(buffers, hyper, isa);
  if (buffers.numel == 0) return isa;
  const StepConstants constants = MakeConstants(buffers, hyper);
  void (*kernel)(const StepConstants&, int64_t, int64_t) = adamw_internal::StepRangeScalar;
#if ZT_CPU_ADAMW_X86
  if (isa == CpuIsa::kAvx512) kernel = adamw_internal::StepRangeAvx512;
  if (isa == CpuIsa::kAvx2) kernel = adamw_internal::StepRangeAvx2;
#endif
  const int64_t numel = buffers.numel;
  const int requested = options.num_threads > 0 ? options.num_threads : omp_get_max_threads();
  const int threads = static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(requested, numel / kMinElementsPerThread)));
  if (threads == 1) {
    kernel(constants, 0, numel);
    return isa;
  }
#pragma omp parallel num_threads(threads)
  {
    // Split by the team OpenMP gave, which may be smaller than asked for (OMP_THREAD_LIMIT,
    // OMP_DYNAMIC, a nested region): a split by `threads` would leave elements unstepped.
    const int team = omp_get_num_threads();
    int64_t per_thread = (numel + team - 1) / team;
    per_thread = (per_thread + kRangeAlignment - 1) / kRangeAlignment * kRangeAlignment;
    const int64_t begin = std::min<int64_t>(numel, omp_get_thread_num() * per_thread);
    const int64_t end = std::min<int64_t>(numel, begin + per_thread);
    if (begin < end) kernel(constants, begin, end);
  }
  return isa;
}

}  // namespace zt::kernels
