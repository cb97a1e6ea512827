#include "kernels/double_quant.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace zt::kernels {
namespace {

// create_dynamic_map()'s values as fp32 bit patterns (computed by torch from linspace means;
// stored rather than recomputed so no rounding of torch.linspace needs reproducing).
constexpr uint32_t kDynamicMapBits[256] = {
    0xBF7E3333, 0xBF7A999A, 0xBF770000, 0xBF736666, 0xBF6FCCCD, 0xBF6C3333, 0xBF68999A, 0xBF650000,
    0xBF616666, 0xBF5DCCCD, 0xBF5A3333, 0xBF56999A, 0xBF530000, 0xBF4F6666, 0xBF4BCCCD, 0xBF483333,
    0xBF44999A, 0xBF410000, 0xBF3D6666, 0xBF39CCCD, 0xBF363334, 0xBF32999A, 0xBF2F0000, 0xBF2B6666,
    0xBF27CCCD, 0xBF243334, 0xBF20999A, 0xBF1D0000, 0xBF196666, 0xBF15CCCD, 0xBF123334, 0xBF0E999A,
    0xBF0B0000, 0xBF076666, 0xBF03CCCC, 0xBF003333, 0xBEF93332, 0xBEF20000, 0xBEEACCCC, 0xBEE3999A,
    0xBEDC6666, 0xBED53333, 0xBECE0000, 0xBEC6CCCC, 0xBEBF999A, 0xBEB86666, 0xBEB13333, 0xBEAA0000,
    0xBEA2CCCC, 0xBE9B999A, 0xBE946666, 0xBE8D3334, 0xBE860000, 0xBE7D9999, 0xBE6F3333, 0xBE60CCCD,
    0xBE526666, 0xBE440000, 0xBE35999A, 0xBE273333, 0xBE18CCCD, 0xBE0A6666, 0xBDF80000, 0xBDDB3334,
    0xBDC9EB85, 0xBDC428F7, 0xBDBE6667, 0xBDB8A3D7, 0xBDB2E148, 0xBDAD1EB8, 0xBDA75C2A, 0xBDA1999A,
    0xBD9BD70A, 0xBD96147B, 0xBD9051EB, 0xBD8A8F5D, 0xBD84CCCD, 0xBD7E147B, 0xBD728F5D, 0xBD670A3D,
    0xBD5B851F, 0xBD500000, 0xBD447AE1, 0xBD38F5C3, 0xBD2D70A3, 0xBD21EB85, 0xBD166667, 0xBD0AE148,
    0xBCFEB852, 0xBCE7AE15, 0xBCD0A3D7, 0xBCB9999A, 0xBCA28F5D, 0xBC8B851F, 0xBC68F5C3, 0xBC3AE148,
    0xBC1F3B64, 0xBC160418, 0xBC0CCCCD, 0xBC039581, 0xBBF4BC6A, 0xBBE24DD3, 0xBBCFDF3B, 0xBBBD70A4,
    0xBBAB020D, 0xBB989374, 0xBB8624DD, 0xBB676C8A, 0xBB428F5C, 0xBB1DB22D, 0xBAF1A9FC, 0xBAA7EF9D,
    0xBA7765FF, 0xBA59E83E, 0xBA3C6A80, 0xBA1EECC1, 0xBA016F01, 0xB9C7E283, 0xB98CE705, 0xB923D70B,
    0xB8BA1F4B, 0xB88AEFB3, 0xB8378034, 0xB7B24206, 0xB70205FF, 0xB65A1A94, 0xB513A3B7, 0x00000000,
    0x3513A3B7, 0x365A1A94, 0x370205FF, 0x37B24206, 0x38378034, 0x388AEFB3, 0x38BA1F4B, 0x3923D70B,
    0x398CE705, 0x39C7E283, 0x3A016F01, 0x3A1EECC1, 0x3A3C6A80, 0x3A59E83E, 0x3A7765FF, 0x3AA7EF9D,
    0x3AF1A9FC, 0x3B1DB22D, 0x3B428F5C, 0x3B676C8A, 0x3B8624DD, 0x3B989374, 0x3BAB020D, 0x3BBD70A4,
    0x3BCFDF3B, 0x3BE24DD3, 0x3BF4BC6A, 0x3C039581, 0x3C0CCCCD, 0x3C160418, 0x3C1F3B64, 0x3C3AE148,
    0x3C68F5C3, 0x3C8B851F, 0x3CA28F5D, 0x3CB9999A, 0x3CD0A3D7, 0x3CE7AE15, 0x3CFEB852, 0x3D0AE148,
    0x3D166667, 0x3D21EB85, 0x3D2D70A3, 0x3D38F5C3, 0x3D447AE1, 0x3D500000, 0x3D5B851F, 0x3D670A3D,
    0x3D728F5D, 0x3D7E147B, 0x3D84CCCD, 0x3D8A8F5D, 0x3D9051EB, 0x3D96147B, 0x3D9BD70A, 0x3DA1999A,
    0x3DA75C2A, 0x3DAD1EB8, 0x3DB2E148, 0x3DB8A3D7, 0x3DBE6667, 0x3DC428F7, 0x3DC9EB85, 0x3DDB3334,
    0x3DF80000, 0x3E0A6666, 0x3E18CCCD, 0x3E273333, 0x3E35999A, 0x3E440000, 0x3E526666, 0x3E60CCCD,
    0x3E6F3333, 0x3E7D9999, 0x3E860000, 0x3E8D3334, 0x3E946666, 0x3E9B999A, 0x3EA2CCCC, 0x3EAA0000,
    0x3EB13333, 0x3EB86666, 0x3EBF999A, 0x3EC6CCCC, 0x3ECE0000, 0x3ED53333, 0x3EDC6666, 0x3EE3999A,
    0x3EEACCCC, 0x3EF20000, 0x3EF93332, 0x3F003333, 0x3F03CCCC, 0x3F076666, 0x3F0B0000, 0x3F0E999A,
    0x3F123334, 0x3F15CCCD, 0x3F196666, 0x3F1D0000, 0x3F20999A, 0x3F243334, 0x3F27CCCD, 0x3F2B6666,
    0x3F2F0000, 0x3F32999A, 0x3F363334, 0x3F39CCCD, 0x3F3D6666, 0x3F410000, 0x3F44999A, 0x3F483333,
    0x3F4BCCCD, 0x3F4F6666, 0x3F530000, 0x3F56999A, 0x3F5A3333, 0x3F5DCCCD, 0x3F616666, 0x3F650000,
    0x3F68999A, 0x3F6C3333, 0x3F6FCCCD, 0x3F736666, 0x3F770000, 0x3F7A999A, 0x3F7E3333, 0x3F800000,
};

constexpr int kLanes = 8;   // torch's Vectorized<float> on this build of its sum kernel
constexpr int kIlp = 4;     // rows summed side by side (row_sum's ilp_factor)
constexpr int kLevels = 4;  // multi_row_sum's num_levels
constexpr int kLutSize = 65536;
constexpr int64_t kTorchGrainSize = 32768;  // at::internal::GRAIN_SIZE

[[noreturn]] void Fail(const char* function, const char* message) {
  std::fprintf(stderr, "zt::kernels::%s: %s\n", function, message);
  std::abort();
}

int64_t CeilLog2(int64_t x) {
  if (x <= 2) return 1;
  int64_t bits = 0;
  for (uint64_t v = static_cast<uint64_t>(x - 1); v != 0; v >>= 1) ++bits;
  return bits;
}

// `width`-float items (one float or one vector): item i starts at data + i * width.
using Item = std::array<float, kLanes>;

Item LoadItem(const float* data, int64_t index, int width) {
  Item item{};
  for (int k = 0; k < width; ++k) item[k] = data[index * width + k];
  return item;
}

void AddTo(Item& acc, const Item& x, int width) {
  for (int k = 0; k < width; ++k) acc[k] += x[k];
}

// torch's multi_row_sum with nrows = kIlp over `size` groups of kIlp consecutive items, then
// row_sum's tail and fold: the sum of `size_items` items in torch's order.
Item RowSum(const float* data, int64_t size_items, int width) {
  const int64_t size = size_items / kIlp;
  const int64_t level_power = std::max<int64_t>(4, CeilLog2(size) / kLevels);
  const int64_t level_step = int64_t{1} << level_power;
  const int64_t level_mask = level_step - 1;
  Item acc[kLevels][kIlp] = {};
  int64_t i = 0;
  for (; i + level_step <= size;) {
    for (int64_t j = 0; j < level_step; ++j, ++i) {
      for (int k = 0; k < kIlp; ++k) AddTo(acc[0][k], LoadItem(data, i * kIlp + k, width), width);
    }
    for (int j = 1; j < kLevels; ++j) {
      for (int k = 0; k < kIlp; ++k) {
        AddTo(acc[j][k], acc[j - 1][k], width);
        acc[j - 1][k] = Item{};
      }
      if ((i & (level_mask << (j * level_power))) != 0) break;
    }
  }
  for (; i < size; ++i) {
    for (int k = 0; k < kIlp; ++k) AddTo(acc[0][k], LoadItem(data, i * kIlp + k, width), width);
  }
  for (int j = 1; j < kLevels; ++j) {
    for (int k = 0; k < kIlp; ++k) AddTo(acc[0][k], acc[j][k], width);
  }
  for (int64_t r = size * kIlp; r < size_items; ++r)
    AddTo(acc[0][0], LoadItem(data, r, width), width);
  for (int k = 1; k < kIlp; ++k) AddTo(acc[0][0], acc[0][k], width);
  return acc[0][0];
}

// torch's cascade_sum of one contiguous range: 8-wide vectors when there are at least 8
// elements (vectorized_inner_sum), else the scalar row_sum.
float CascadeSum(const float* data, int64_t n) {
  if (n < kLanes) return RowSum(data, n, 1)[0];
  const int64_t vectors = n / kLanes;
  const Item lanes = RowSum(data, vectors, kLanes);
  float sum = 0.0f;
  for (int64_t k = vectors * kLanes; k < n; ++k) sum += data[k];
  for (int k = 0; k < kLanes; ++k) sum += lanes[k];
  return sum;
}

// bitsandbytes' 65536-entry nearest-code table over [-1, 1].
std::vector<uint8_t> BuildLut(const float* code) {
  float midpoints[255];
  for (int i = 0; i < 255; ++i) midpoints[i] = 0.5f * (code[i] + code[i + 1]);
  std::vector<uint8_t> lut(kLutSize);
  int index = 0;
  for (int i = 0; i < kLutSize; ++i) {
    const float value = -1.0f + (2.0f * static_cast<float>(i)) / static_cast<float>(kLutSize - 1);
    while (index < 255 && midpoints[index] < value) ++index;
    lut[i] = static_cast<uint8_t>(index);
  }
  return lut;
}

int LutIndex(float s) {
  const float unit = (std::clamp(s, -1.0f, 1.0f) + 1.0f) * 0.5f;
  const float scaled = unit * static_cast<float>(kLutSize - 1);
  return static_cast<int>(static_cast<uint16_t>(scaled + 0.5f));
}

}  // namespace

const float* DynamicMap8bit() {
  static const auto* const map = [] {
    auto* values = new std::array<float, 256>;
    std::memcpy(values->data(), kDynamicMapBits, sizeof kDynamicMapBits);
    return values;
  }();
  return map->data();
}

float TorchCpuMeanF32(const float* data, int64_t n, int torch_threads) {
  if (n <= 0) return std::nanf("");  // torch: the mean of nothing is NaN
  if (data == nullptr) Fail("TorchCpuMeanF32", "null buffer");
  const int64_t threads = std::max(1, torch_threads);
  if (n < kTorchGrainSize || threads == 1) return CascadeSum(data, n) / static_cast<float>(n);
  // TensorIterator's two-pass reduction: at::parallel_for's chunks, one partial per thread (the
  // unused ones stay 0), then the partials summed the same way.
  const int64_t used = std::min(threads, (n + kTorchGrainSize - 1) / kTorchGrainSize);
  const int64_t chunk = (n + used - 1) / used;
  std::vector<float> partials(threads, 0.0f);
  for (int64_t t = 0; t < used && t * chunk < n; ++t) {
    partials[t] += CascadeSum(data + t * chunk, std::min(chunk, n - t * chunk));
  }
  return (0.0f + CascadeSum(partials.data(), threads)) / static_cast<float>(n);
}

void Quantize8bitBlockwiseCpu(const float* input, int64_t n, int64_t blocksize, const float* code,
                              uint8_t* codes, float* absmax) {
  if (blocksize <= 0) Fail("Quantize8bitBlockwiseCpu", "blocksize <= 0");
  if (n <= 0) return;
  if (input == nullptr || code == nullptr || codes == nullptr || absmax == nullptr) {
    Fail("Quantize8bitBlockwiseCpu", "null buffer");
  }
  const std::vector<uint8_t> lut = BuildLut(code);
  for (int64_t begin = 0, b = 0; begin < n; begin += blocksize, ++b) {
    const int64_t end = std::min(begin + blocksize, n);
    float block_max = 0.0f;
    for (int64_t i = begin; i < end; ++i) block_max = std::max(block_max, std::fabs(input[i]));
    absmax[b] = block_max;
    if (block_max == 0.0f) {
      std::fill(codes + begin, codes + end, uint8_t{0});
      continue;
    }
    const float reciprocal = 1.0f / block_max;
    for (int64_t i = begin; i < end; ++i) codes[i] = lut[LutIndex(input[i] * reciprocal)];
  }
}

DoubleQuantized DoubleQuantizeAbsmaxCpu(const float* absmax, int64_t n_blocks, uint8_t* codes,
                                        float* nested_absmax, int torch_threads) {
  DoubleQuantized result;
  if (n_blocks <= 0) return result;
  result.offset = TorchCpuMeanF32(absmax, n_blocks, torch_threads);
  std::vector<float> centered(absmax, absmax + n_blocks);
  for (float& value : centered) value -= result.offset;
  Quantize8bitBlockwiseCpu(centered.data(), n_blocks, kNestedBlocksize, DynamicMap8bit(), codes,
                           nested_absmax);
  return result;
}

void DequantizeNestedAbsmaxCpu(const uint8_t* codes, const float* nested_absmax,
                               const float* nested_code, float offset, int64_t n_blocks,
                               float* out) {
  if (n_blocks <= 0) return;
  if (codes == nullptr || nested_absmax == nullptr || nested_code == nullptr || out == nullptr) {
    Fail("DequantizeNestedAbsmaxCpu", "null buffer");
  }
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float scaled = nested_code[codes[i]] * nested_absmax[i / kNestedBlocksize];
    out[i] = scaled + offset;
  }
}

}  // namespace zt::kernels
