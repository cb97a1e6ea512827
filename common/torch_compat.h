// The few places where zerotune works around LibTorch 2.x itself (the wheel's 2.11 is the one
// every build uses): SDPA with a causal and an explicit mask together, fp16 matmul on the CPU,
// pinned host memory without a device, and a hook after gradient accumulation. Code elsewhere
// never tests TORCH_VERSION_* itself.
#pragma once

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/version.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

// SDPA's enable_gqa argument (key/value with fewer heads than query) arrived in 2.5.
static_assert(TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5),
              "zerotune needs LibTorch 2.5 or newer (scripts/setup.sh installs 2.11)");

namespace zt::common {

// "2.11.0".
const char* TorchVersion();

struct SdpaOptions {
  // Boolean (true = attend) or additive floating-point mask broadcastable to
  // [batch, heads, query, key].
  std::optional<at::Tensor> attn_mask;
  double dropout_p = 0.0;
  // Top-left aligned causal mask (query i sees keys 0..i), as torch's is_causal. May be
  // combined with attn_mask: both are applied.
  bool is_causal = false;
  // Softmax scale; default 1/sqrt(head_dim).
  std::optional<double> scale;
  // Query has a multiple of key/value's heads (grouped-query attention).
  bool enable_gqa = false;
};

// softmax(q·kᵀ·scale + mask)·v for q [B, Hq, L, E], k/v [B, Hkv, S, E] through torch's fused
// kernels; a causal mask and an explicit one together (which torch rejects) become one mask.
at::Tensor ScaledDotProductAttention(const at::Tensor& query, const at::Tensor& key,
                                     const at::Tensor& value, const SdpaOptions& options = {});

// True when this LibTorch was built with CUDA and a device is present.
bool CudaAvailable();

// Host buffers: pinned (page-locked) when `pin` and CUDA are present, pageable otherwise
// (a CPU-only LibTorch throws on pin_memory).
at::Tensor EmptyHostBuffer(at::IntArrayRef sizes, at::ScalarType dtype, bool pin);
bool PinnedMemoryAvailable();

// The dtype to run a matmul in on `device` for storage `dtype`: fp16 on CPU is computed in fp32
// (2.x's CPU half matmul is a scalar loop on CPUs without AVX512-FP16, pytorch#181367);
// everything else is unchanged.
at::ScalarType MatmulComputeDtype(at::ScalarType dtype, const at::Device& device);

// Runs `hook` each time autograd has accumulated a gradient into `leaf.grad()` (after the
// accumulation, on the autograd thread). A parameter used twice in one graph (tied weights)
// fires twice. Uses the grad accumulator's post-hook. The handle keeps the accumulator
// alive (autograd holds it weakly) and removes the hook when destroyed. Move-only.
class GradAccumulatorHook {
 public:
  GradAccumulatorHook(const at::Tensor& leaf, std::function<void(const at::Tensor& leaf)> hook);
  ~GradAccumulatorHook();
  GradAccumulatorHook(GradAccumulatorHook&& other) noexcept;
  GradAccumulatorHook& operator=(GradAccumulatorHook&& other) noexcept;
  GradAccumulatorHook(const GradAccumulatorHook&) = delete;
  GradAccumulatorHook& operator=(const GradAccumulatorHook&) = delete;

 private:
  std::shared_ptr<torch::autograd::Node> accumulator_;
  std::uintptr_t key_ = 0;
};

}  // namespace zt::common
