#include "common/torch_compat.h"

#include <limits>

namespace zt::common {
namespace {

// Folds a causal mask (top-left aligned) into `mask`, as an additive float mask in `dtype`.
at::Tensor AdditiveMask(const std::optional<at::Tensor>& mask, bool is_causal, int64_t query_len,
                        int64_t key_len, at::ScalarType dtype, const at::Device& device) {
  const double neg_inf = -std::numeric_limits<double>::infinity();
  auto options = at::TensorOptions().dtype(dtype).device(device);
  at::Tensor additive = at::zeros({query_len, key_len}, options);
  if (is_causal) {
    at::Tensor allowed = at::ones({query_len, key_len}, options.dtype(at::kBool)).tril();
    additive = additive.masked_fill(allowed.logical_not(), neg_inf);
  }
  if (mask.has_value()) {
    if (mask->scalar_type() == at::kBool) {
      additive = additive.masked_fill(mask->logical_not(), neg_inf);
    } else {
      additive = additive + mask->to(dtype);
    }
  }
  return additive;
}

}  // namespace

const char* TorchVersion() { return TORCH_VERSION; }

at::Tensor ScaledDotProductAttention(const at::Tensor& query, const at::Tensor& key,
                                     const at::Tensor& value, const SdpaOptions& options) {
  TORCH_CHECK(query.dim() == 4 && key.dim() == 4 && value.dim() == 4,
              "ScaledDotProductAttention expects [batch, heads, seq, head_dim] tensors");
  const int64_t query_heads = query.size(1);
  const int64_t kv_heads = key.size(1);
  if (query_heads != kv_heads) {
    TORCH_CHECK(options.enable_gqa && query_heads % kv_heads == 0,
                "query has ", query_heads, " heads and key/value ", kv_heads,
                ": grouped-query attention needs enable_gqa and a whole multiple");
  }

  // torch rejects is_causal together with an explicit mask: fold both into one mask.
  std::optional<at::Tensor> mask = options.attn_mask;
  bool is_causal = options.is_causal;
  if (is_causal && mask.has_value()) {
    mask = AdditiveMask(mask, true, query.size(2), key.size(2), query.scalar_type(), query.device());
    is_causal = false;
  }
  return at::scaled_dot_product_attention(query, key, value, mask, options.dropout_p, is_causal,
                                          options.scale, options.enable_gqa);
}

bool CudaAvailable() { return at::hasCUDA(); }

bool PinnedMemoryAvailable() { return CudaAvailable(); }

at::Tensor EmptyHostBuffer(at::IntArrayRef sizes, at::ScalarType dtype, bool pin) {
  return at::empty(sizes, at::TensorOptions().dtype(dtype).pinned_memory(pin && PinnedMemoryAvailable()));
}

at::ScalarType MatmulComputeDtype(at::ScalarType dtype, const at::Device& device) {
  if (device.is_cpu() && dtype == at::kHalf) return at::kFloat;
  return dtype;
}

namespace {

class CallbackPostHook : public torch::autograd::FunctionPostHook {
 public:
  CallbackPostHook(at::Tensor leaf, std::function<void(const at::Tensor&)> hook)
      : leaf_(std::move(leaf)), hook_(std::move(hook)) {}

  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    hook_(leaf_);
    return outputs;
  }

 private:
  // A weak view would be enough, but the leaf outlives the hook in every caller; holding the
  // tensor keeps `leaf.grad()` reachable from inside the hook.
  at::Tensor leaf_;
  std::function<void(const at::Tensor&)> hook_;
};

}  // namespace

GradAccumulatorHook::GradAccumulatorHook(const at::Tensor& leaf,
                                         std::function<void(const at::Tensor& leaf)> hook) {
  TORCH_CHECK(leaf.is_leaf() && leaf.requires_grad(),
              "GradAccumulatorHook needs a leaf tensor that requires grad");
  accumulator_ = torch::autograd::impl::grad_accumulator(leaf);
  TORCH_CHECK(accumulator_ != nullptr, "tensor has no grad accumulator");
  key_ = accumulator_->add_post_hook(std::make_unique<CallbackPostHook>(leaf, std::move(hook)));
}

GradAccumulatorHook::~GradAccumulatorHook() {
  if (accumulator_ != nullptr) accumulator_->del_post_hook(key_);
}

GradAccumulatorHook::GradAccumulatorHook(GradAccumulatorHook&& other) noexcept
    : accumulator_(std::move(other.accumulator_)), key_(other.key_) {
  other.accumulator_ = nullptr;
}

GradAccumulatorHook& GradAccumulatorHook::operator=(GradAccumulatorHook&& other) noexcept {
  if (this != &other) {
    if (accumulator_ != nullptr) accumulator_->del_post_hook(key_);
    accumulator_ = std::move(other.accumulator_);
    key_ = other.key_;
    other.accumulator_ = nullptr;
  }
  return *this;
}

}  // namespace zt::common
