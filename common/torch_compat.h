// Every difference between the LibTorch versions zerotune builds against lives here:
// Debian's 1.13.1 (CPU CI) and 2.x (GPU builds). Each gate names the version that introduced
// the API. Code elsewhere never tests TORCH_VERSION_* itself.
#pragma once

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/version.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#define ZT_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||     \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// Public at::scaled_dot_product_attention: 2.0 (1.13 has only the private
// at::_scaled_dot_product_attention, returning a (output, weights) tuple).
#define ZT_TORCH_HAS_PUBLIC_SDPA ZT_TORCH_AT_LEAST(2, 0)
// The `scale` argument of SDPA: 2.1.
#define ZT_TORCH_HAS_SDPA_SCALE ZT_TORCH_AT_LEAST(2, 1)
// The `enable_gqa` argument of SDPA (key/value with fewer heads than query): 2.5.
#define ZT_TORCH_HAS_SDPA_GQA ZT_TORCH_AT_LEAST(2, 5)

namespace zt::common {

// "1.13.1" / "2.11.0".
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

// softmax(q·kᵀ·scale + mask)·v for q [B, Hq, L, E], k/v [B, Hkv, S, E] on every supported
// LibTorch, through the fused kernels where the version has them.
at::Tensor ScaledDotProductAttention(const at::Tensor& query, const at::Tensor& key,
                                     const at::Tensor& value, const SdpaOptions& options = {});

// True when this LibTorch was built with CUDA and a device is present.
bool CudaAvailable();

// Host buffers: pinned (page-locked) when `pin` and CUDA are present, pageable otherwise
// (a CPU-only LibTorch throws on pin_memory).
at::Tensor EmptyHostBuffer(at::IntArrayRef sizes, at::ScalarType dtype, bool pin);
bool PinnedMemoryAvailable();

// The dtype to run a matmul in on `device` for storage `dtype`: fp16 on CPU is computed in fp32
// (1.12-1.13 removed CPU half matmul, pytorch#75647; 2.x has it, but as a scalar loop on CPUs
// without AVX512-FP16, pytorch#181367); everything else is unchanged.
at::ScalarType MatmulComputeDtype(at::ScalarType dtype, const at::Device& device);

// Runs `hook` each time autograd has accumulated a gradient into `leaf.grad()` (after the
// accumulation, on the autograd thread). A parameter used twice in one graph (tied weights)
// fires twice. Uses the grad accumulator's post-hook, which exists in 1.13 and 2.x
// (register_post_accumulate_grad_hook exists only from 2.1). The handle keeps the accumulator
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
