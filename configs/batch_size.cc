#include "configs/batch_size.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace zt::configs {
namespace {

constexpr char kTb[] = "train_batch_size";
constexpr char kMb[] = "train_micro_batch_size_per_gpu";
constexpr char kGas[] = "gradient_accumulation_steps";

// Python's // for the non-negative-divisor case DeepSpeed meets (W >= 1, MB/GAS checked > 0
// later; a zero divisor is reported instead of dividing).
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// a * b * c, or nullopt when it does not fit an int64 (hostile configs reach 2^63).
std::optional<int64_t> CheckedProduct(int64_t a, int64_t b, int64_t c) {
  int64_t ab = 0, abc = 0;
  if (__builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, &abc)) {
    return std::nullopt;
  }
  return abc;
}

// The members the user wrote must be > 0 before anything is derived from them, so the message
// names the key as written rather than a derived one.
bool CheckGiven(const char* key, const char* what, std::optional<int64_t> value,
                Diagnostics& diag) {
  if (!value || *value > 0) return true;
  diag.Error(key, absl::StrCat(what, ": ", *value, " has to be greater than 0"));
  return false;
}

}  // namespace

std::optional<BatchTriad> ResolveBatchTriad(std::optional<int64_t> tb, std::optional<int64_t> mb,
                                            std::optional<int64_t> gas, int64_t world_size,
                                            Diagnostics& diag) {
  const int64_t w = world_size;
  if (w <= 0) {
    diag.Error("world_size", absl::StrCat("must be > 0, got ", w));
    return std::nullopt;
  }
  if (!tb && !mb) {
    diag.Error(kTb, absl::StrCat("either ", kTb, " or ", kMb, " needs to be provided"));
    return std::nullopt;
  }
  if (!CheckGiven(kTb, "Train batch size", tb, diag) ||
      !CheckGiven(kMb, "Micro batch size per gpu", mb, diag) ||
      !CheckGiven(kGas, "Gradient accumulation steps", gas, diag)) {
    return std::nullopt;
  }
  const auto overflow = [&](int64_t a, int64_t b) -> std::optional<BatchTriad> {
    diag.Error(kTb, absl::StrCat(kMb, " * ", kGas, " * world_size = ", a, " * ", b, " * ", w,
                                 " overflows a 64-bit integer; expected a train batch size below ",
                                 "2^63"));
    return std::nullopt;
  };
  BatchTriad t;
  std::string derived;  // how the missing members were computed, for the messages
  if (tb && mb && gas) {
    t = {*tb, *mb, *gas};
  } else if (tb && mb) {
    if (*mb == 0) {
      diag.Error(kMb, absl::StrCat("Micro batch size per gpu: 0 has to be greater than 0"));
      return std::nullopt;
    }
    t = {*tb, *mb, FloorDiv(FloorDiv(*tb, *mb), w)};
    derived = absl::StrCat(" (", kGas, " derived as (", *tb, " // ", *mb, ") // ", w, ")");
  } else if (tb && gas) {
    if (*gas == 0) {
      diag.Error(kGas, "Gradient accumulation steps: 0 has to be greater than 0");
      return std::nullopt;
    }
    t = {*tb, FloorDiv(FloorDiv(*tb, w), *gas), *gas};
    derived = absl::StrCat(" (", kMb, " derived as (", *tb, " // ", w, ") // ", *gas, ")");
  } else if (mb && gas) {
    const std::optional<int64_t> product = CheckedProduct(*mb, *gas, w);
    if (!product) return overflow(*mb, *gas);
    t = {*product, *mb, *gas};
    derived = absl::StrCat(" (", kTb, " derived as ", *mb, " * ", *gas, " * ", w, ")");
  } else if (tb) {
    t = {*tb, FloorDiv(*tb, w), 1};
    derived = absl::StrCat(" (", kGas, " = 1, ", kMb, " derived as ", *tb, " // ", w, ")");
  } else {
    const std::optional<int64_t> product = CheckedProduct(*mb, 1, w);
    if (!product) return overflow(*mb, 1);
    t = {*product, *mb, 1};
    derived = absl::StrCat(" (", kGas, " = 1, ", kTb, " derived as ", *mb, " * ", w, ")");
  }
  if (t.train_batch_size <= 0) {
    diag.Error(kTb, absl::StrCat("Train batch size: ", t.train_batch_size,
                                 " has to be greater than 0", derived));
    return std::nullopt;
  }
  if (t.train_micro_batch_size_per_gpu <= 0) {
    diag.Error(kMb, absl::StrCat("Micro batch size per gpu: ", t.train_micro_batch_size_per_gpu,
                                 " has to be greater than 0", derived));
    return std::nullopt;
  }
  if (t.gradient_accumulation_steps <= 0) {
    diag.Error(kGas, absl::StrCat("Gradient accumulation steps: ", t.gradient_accumulation_steps,
                                  " has to be greater than 0", derived));
    return std::nullopt;
  }
  const std::optional<int64_t> checked =
      CheckedProduct(t.train_micro_batch_size_per_gpu, t.gradient_accumulation_steps, w);
  if (!checked) return overflow(t.train_micro_batch_size_per_gpu, t.gradient_accumulation_steps);
  const int64_t product = *checked;
  if (t.train_batch_size != product) {
    std::string hint;
    const int64_t per_step = t.train_micro_batch_size_per_gpu * w;
    if (t.train_batch_size % per_step == 0) {
      hint = absl::StrCat("; for world size ", w, " set ", kGas, " to ",
                          t.train_batch_size / per_step, " or ", kTb, " to ", product);
    } else {
      hint = absl::StrCat("; for world size ", w, " set ", kTb, " to ", product);
    }
    diag.Error(kTb, absl::StrCat(kTb, " is not equal to ", kMb, " * ", kGas, " * world_size: ",
                                 t.train_batch_size, " != ", t.train_micro_batch_size_per_gpu,
                                 " * ", t.gradient_accumulation_steps, " * ", w, derived, hint));
    return std::nullopt;
  }
  return t;
}

}  // namespace zt::configs
