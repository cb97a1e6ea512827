#include "sharding/collectives/host_reduce.h"

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "absl/strings/str_cat.h"

namespace zt::sharding {
namespace {

// The type arithmetic is done in: fp32 for the 16-bit floats, the type itself otherwise.
template <typename T>
using WideT =
    std::conditional_t<std::is_same_v<T, c10::BFloat16> || std::is_same_v<T, c10::Half>, float, T>;

template <typename T, typename F>
void CombineWith(T* out, const T* a, const T* b, size_t count, F f) {
  using W = WideT<T>;
  for (size_t i = 0; i < count; ++i) {
    out[i] = static_cast<T>(f(static_cast<W>(a[i]), static_cast<W>(b[i])));
  }
}

template <typename T>
void CombineTyped(ReduceOp op, void* out, const void* a, const void* b, size_t count) {
  using W = WideT<T>;
  T* o = static_cast<T*>(out);
  const T* x = static_cast<const T*>(a);
  const T* y = static_cast<const T*>(b);
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      CombineWith(o, x, y, count, [](W u, W v) { return u + v; });
      return;
    case ReduceOp::kMax:
      CombineWith(o, x, y, count, [](W u, W v) { return std::max(u, v); });
      return;
    case ReduceOp::kMin:
      CombineWith(o, x, y, count, [](W u, W v) { return std::min(u, v); });
      return;
  }
}

template <typename T>
void DivideTyped(void* data, size_t count, int divisor) {
  using W = WideT<T>;
  T* d = static_cast<T*>(data);
  for (size_t i = 0; i < count; ++i) {
    d[i] = static_cast<T>(static_cast<W>(d[i]) / static_cast<W>(divisor));
  }
}

}  // namespace

absl::Status CheckReducibleDtype(const char* op, at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
    case at::kDouble:
    case at::kBFloat16:
    case at::kHalf:
    case at::kInt:
    case at::kLong:
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": dtype ", c10::toString(dtype),
                       " cannot be reduced; expected Float, Double, BFloat16, Half, Int or Long"));
  }
}

void Combine(at::ScalarType dtype, ReduceOp op, void* out, const void* a, const void* b,
             size_t count) {
  switch (dtype) {
    case at::kFloat:
      return CombineTyped<float>(op, out, a, b, count);
    case at::kDouble:
      return CombineTyped<double>(op, out, a, b, count);
    case at::kBFloat16:
      return CombineTyped<c10::BFloat16>(op, out, a, b, count);
    case at::kHalf:
      return CombineTyped<c10::Half>(op, out, a, b, count);
    case at::kInt:
      return CombineTyped<int32_t>(op, out, a, b, count);
    case at::kLong:
      return CombineTyped<int64_t>(op, out, a, b, count);
    default:
      TORCH_CHECK(false, "Combine: unchecked dtype ", c10::toString(dtype));
  }
}

void DivideBy(at::ScalarType dtype, void* data, size_t count, int divisor) {
  switch (dtype) {
    case at::kFloat:
      return DivideTyped<float>(data, count, divisor);
    case at::kDouble:
      return DivideTyped<double>(data, count, divisor);
    case at::kBFloat16:
      return DivideTyped<c10::BFloat16>(data, count, divisor);
    case at::kHalf:
      return DivideTyped<c10::Half>(data, count, divisor);
    case at::kInt:
      return DivideTyped<int32_t>(data, count, divisor);
    case at::kLong:
      return DivideTyped<int64_t>(data, count, divisor);
    default:
      TORCH_CHECK(false, "DivideBy: unchecked dtype ", c10::toString(dtype));
  }
}

}  // namespace zt::sharding
