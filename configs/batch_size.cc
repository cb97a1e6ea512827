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
    t = {*mb * *gas * w, *mb, *gas};
    derived = absl::StrCat(" (", kTb, " derived as ", *mb, " * ", *gas, " * ", w, ")");
  } else if (tb) {
    t = {*tb, FloorDiv(*tb, w), 1};
    derived = absl::StrCat(" (", kGas, " = 1, ", kMb, " derived as ", *tb, " // ", w, ")");
  } else {
    t = {*mb * w, *mb, 1};
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
  const int64_t product = t.train_micro_batch_size_per_gpu * t.gradient_accumulation_steps * w;
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
