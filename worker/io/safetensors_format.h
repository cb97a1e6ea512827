// The safetensors container format (huggingface/safetensors README "Format"), without LibTorch:
// parsing and validating a file's header, and planning the layout of a file to write. The
// tensor-level layer on top is safetensors_file.h; this half is fuzzed on its own.
//
// File layout: u64 little-endian N, N bytes of JSON header (an object, right-padded with
// spaces), then the byte buffer. Header entries are
//   "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
// with offsets relative to the buffer start, plus an optional "__metadata__" string map.
//
// ParseSafetensorsHeader enforces, naming the file and the tensor in every error:
//   1. the file holds the 8-byte length and N <= kMaxSafetensorsHeaderBytes, 8 + N <= file size;
//   2. the header is one well-formed UTF-8 JSON object (starting with '{') of the shape above,
//      known dtype strings, non-negative integer shapes and offsets, string metadata values;
//   3. no tensor name appears twice;
//   4. offsets lie inside the buffer, end >= begin;
//   5. sorted by offset, the tensors tile the buffer from 0 with no gap and no overlap;
//   6. the buffer ends where the last tensor ends (no trailing bytes);
//   7. end - begin == numel(shape) * bits(dtype) / 8, overflow-checked.
// Values are not inspected (NaN/Inf are fine). Thread-safe, no global state, never throws.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zt::worker::io {

inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Every dtype of the format (safetensors src/tensor.rs Dtype).
enum class SafetensorsDtype {
  kBool, kF4, kF6E2M3, kF6E3M2, kU8, kI8, kF8E5M2, kF8E4M3, kF8E8M0, kF8E4M3Fnuz,
  kF8E5M2Fnuz, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kC64, kF64, kI64, kU64,
};

// "F32" -> kF32; InvalidArgument listing the known names for anything else.
absl::StatusOr<SafetensorsDtype> ParseSafetensorsDtype(absl::string_view name);
// kF32 -> "F32".
const char* SafetensorsDtypeName(SafetensorsDtype dtype);
// Bits per element (4 for F4, 6 for F6_*, 8 for BOOL/U8/..., 64 for F64/I64/C64...).
int SafetensorsDtypeBits(SafetensorsDtype dtype);

struct SafetensorsEntry {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;  // [] is a scalar (one element)
  uint64_t begin = 0;          // bytes, relative to the buffer start
  uint64_t end = 0;            // exclusive
  uint64_t numel() const;
  uint64_t byte_size() const { return end - begin; }
};

struct SafetensorsHeader {
  uint64_t data_start = 0;                       // file offset of the buffer: 8 + N
  std::vector<SafetensorsEntry> tensors;         // sorted by begin
  std::map<std::string, std::string> metadata;   // "__metadata__"
  // Index into `tensors`, or -1.
  int Find(absl::string_view name) const;
};

// Parses and validates the header of a whole file held in `file` (its bytes, e.g. a mapping);
// `source` (the path) prefixes every error. InvalidArgument on any violation.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view file,
                                                         absl::string_view source);

// What a writer needs to know about one tensor.
struct SafetensorsTensorSpec {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;
};

struct SafetensorsLayout {
  std::string prefix;             // the u64 length + JSON header, padded to a multiple of 8
  std::vector<uint64_t> offsets;  // per input spec (same order): its offset in the buffer
  uint64_t buffer_bytes = 0;      // total tensor bytes
};

// Lays out a file as the reference writer does: tensors ordered by descending dtype size, then
// by name, placed contiguously; the header padded with spaces so the buffer starts 8-aligned.
// InvalidArgument for duplicate or empty names, negative dims, or sub-byte sizes that are not
// whole bytes.
absl::StatusOr<SafetensorsLayout> PlanSafetensorsLayout(
    const std::vector<SafetensorsTensorSpec>& specs,
    const std::map<std::string, std::string>& metadata);

}  // namespace zt::worker::io
