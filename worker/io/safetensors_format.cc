#include "worker/io/safetensors_format.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace zt::worker::io {
namespace {

using Json = nlohmann::json;

struct DtypeInfo {
  SafetensorsDtype dtype;
  const char* name;
  int bits;
};

constexpr DtypeInfo kDtypes[] = {
    {SafetensorsDtype::kBool, "BOOL", 8},          {SafetensorsDtype::kF4, "F4", 4},
    {SafetensorsDtype::kF6E2M3, "F6_E2M3", 6},     {SafetensorsDtype::kF6E3M2, "F6_E3M2", 6},
    {SafetensorsDtype::kU8, "U8", 8},              {SafetensorsDtype::kI8, "I8", 8},
    {SafetensorsDtype::kF8E5M2, "F8_E5M2", 8},     {SafetensorsDtype::kF8E4M3, "F8_E4M3", 8},
    {SafetensorsDtype::kF8E8M0, "F8_E8M0", 8},     {SafetensorsDtype::kF8E4M3Fnuz, "F8_E4M3FNUZ", 8},
    {SafetensorsDtype::kF8E5M2Fnuz, "F8_E5M2FNUZ", 8}, {SafetensorsDtype::kI16, "I16", 16},
    {SafetensorsDtype::kU16, "U16", 16},           {SafetensorsDtype::kF16, "F16", 16},
    {SafetensorsDtype::kBF16, "BF16", 16},         {SafetensorsDtype::kI32, "I32", 32},
    {SafetensorsDtype::kU32, "U32", 32},           {SafetensorsDtype::kF32, "F32", 32},
    {SafetensorsDtype::kC64, "C64", 64},           {SafetensorsDtype::kF64, "F64", 64},
    {SafetensorsDtype::kI64, "I64", 64},           {SafetensorsDtype::kU64, "U64", 64},
};

const DtypeInfo& Info(SafetensorsDtype dtype) {
  for (const DtypeInfo& info : kDtypes) {
    if (info.dtype == dtype) return info;
  }
  return kDtypes[0];  // unreachable: every enumerator is in the table
}

absl::Status Invalid(absl::string_view source, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": not a valid safetensors file: ", what));
}

bool MulOverflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

// Reads a non-negative JSON integer into `out`.
bool AsUnsigned(const Json& value, uint64_t* out) {
  if (value.is_number_unsigned()) {
    *out = value.get<uint64_t>();
    return true;
  }
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(value.get<int64_t>());
    return true;
  }
  return false;
}

// Parses the JSON text, rejecting duplicate keys in any object.
absl::StatusOr<Json> ParseStrictJson(absl::string_view text, absl::string_view source) {
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  auto callback = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) keys.emplace_back();
    if (event == Json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
    if (event == Json::parse_event_t::key && !keys.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!keys.back().insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  Json json;
  try {
    json = Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::exception& e) {
    return Invalid(source, absl::StrCat("header is not well-formed JSON (", e.what(), ")"));
  }
  if (!duplicate.empty()) {
    return Invalid(source, absl::StrCat("header names \"", duplicate,
                                        "\" twice; duplicate keys are not allowed"));
  }
  return json;
}

absl::Status ParseMetadata(const Json& value, absl::string_view source,
                           std::map<std::string, std::string>* metadata) {
  if (!value.is_object()) return Invalid(source, "__metadata__ must be an object of strings");
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      return Invalid(source, absl::StrCat("__metadata__[\"", key, "\"] is ", item.type_name(),
                                          ", expected a string"));
    }
    (*metadata)[key] = item.get<std::string>();
  }
  return absl::OkStatus();
}

absl::StatusOr<SafetensorsEntry> ParseEntry(const std::string& name, const Json& value,
                                            absl::string_view source) {
  const std::string where = absl::StrCat("tensor \"", name, "\": ");
  if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
      !value.contains("data_offsets")) {
    return Invalid(source, where + "expected {\"dtype\", \"shape\", \"data_offsets\"}");
  }
  SafetensorsEntry entry;
  entry.name = name;
  const Json& dtype = value["dtype"];
  if (!dtype.is_string()) return Invalid(source, where + "dtype must be a string");
  auto parsed_dtype = ParseSafetensorsDtype(dtype.get<std::string>());
  if (!parsed_dtype.ok()) return Invalid(source, where + std::string(parsed_dtype.status().message()));
  entry.dtype = *parsed_dtype;
  const Json& shape = value["shape"];
  if (!shape.is_array()) return Invalid(source, where + "shape must be an array of integers");
  for (const Json& dim : shape) {
    uint64_t d = 0;
    if (!AsUnsigned(dim, &d) || d > static_cast<uint64_t>(INT64_MAX)) {
      return Invalid(source, absl::StrCat(where, "shape entry ", dim.dump(),
                                          " is not a non-negative integer"));
    }
    entry.shape.push_back(static_cast<int64_t>(d));
  }
  const Json& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !AsUnsigned(offsets[0], &entry.begin) ||
      !AsUnsigned(offsets[1], &entry.end)) {
    return Invalid(source, absl::StrCat(where, "data_offsets ", offsets.dump(),
                                        " must be two non-negative integers [begin, end]"));
  }
  return entry;
}

// Rule 7: the byte range holds exactly numel(shape) elements of dtype.
absl::Status CheckByteLength(const SafetensorsEntry& entry, absl::string_view source) {
  uint64_t numel = 1;
  for (int64_t d : entry.shape) {
    if (MulOverflows(numel, static_cast<uint64_t>(d), &numel)) {
      return Invalid(source, absl::StrCat("tensor \"", entry.name, "\": shape [",
                                          absl::StrJoin(entry.shape, ", "), "] overflows"));
    }
  }
  uint64_t bits = 0;
  const int dtype_bits = SafetensorsDtypeBits(entry.dtype);
  if (MulOverflows(numel, static_cast<uint64_t>(dtype_bits), &bits)) {
    return Invalid(source, absl::StrCat("tensor \"", entry.name, "\": size overflows"));
  }
  if (bits % 8 != 0 || bits / 8 != entry.end - entry.begin) {
    return Invalid(source, absl::StrCat(
        "tensor \"", entry.name, "\": data_offsets [", entry.begin, ", ", entry.end, "] span ",
        entry.end - entry.begin, " bytes, but dtype ", SafetensorsDtypeName(entry.dtype),
        " x shape [", absl::StrJoin(entry.shape, ", "), "] needs ", bits / 8,
        bits % 8 ? " bytes and a fraction" : " bytes"));
  }
  return absl::OkStatus();
}

// Rules 4-6 over all entries: in range, tiling the buffer without gaps/overlaps/trailing bytes.
absl::Status CheckTiling(std::vector<SafetensorsEntry>& tensors, uint64_t buffer_bytes,
                         absl::string_view source) {
  for (const SafetensorsEntry& entry : tensors) {
    if (entry.end < entry.begin || entry.end > buffer_bytes) {
      return Invalid(source, absl::StrCat("tensor \"", entry.name, "\": data_offsets [",
                                          entry.begin, ", ", entry.end,
                                          "] lie outside the data buffer of ", buffer_bytes,
                                          " bytes (hint: truncated download?)"));
    }
  }
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (const SafetensorsEntry& entry : tensors) {
    if (entry.begin != expected) {
      return Invalid(source, absl::StrCat("tensor \"", entry.name, "\" begins at byte ",
                                          entry.begin, " but the previous tensor ends at ",
                                          expected, entry.begin < expected ? " (overlap)" : " (gap)"));
    }
    expected = entry.end;
  }
  if (expected != buffer_bytes) {
    return Invalid(source, absl::StrCat("the tensors cover ", expected, " bytes of a ",
                                        buffer_bytes, "-byte data buffer (trailing bytes)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SafetensorsDtype> ParseSafetensorsDtype(absl::string_view name) {
  std::vector<std::string> names;
  for (const DtypeInfo& info : kDtypes) {
    if (name == info.name) return info.dtype;
    names.push_back(info.name);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype \"", name, "\", expected one of ",
                                                 absl::StrJoin(names, ", ")));
}

const char* SafetensorsDtypeName(SafetensorsDtype dtype) { return Info(dtype).name; }
int SafetensorsDtypeBits(SafetensorsDtype dtype) { return Info(dtype).bits; }

uint64_t SafetensorsEntry::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

int SafetensorsHeader::Find(absl::string_view name) const {
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view file,
                                                         absl::string_view source) {
  if (file.size() < 8) {
    return Invalid(source, absl::StrCat("file has ", file.size(),
                                        " bytes, fewer than the 8-byte header length"));
  }
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);  // little-endian hosts only (x86-64, aarch64)
  if (n > kMaxSafetensorsHeaderBytes || n > file.size() - 8) {
    const std::string bound =
        n > kMaxSafetensorsHeaderBytes
            ? absl::StrCat("the ", kMaxSafetensorsHeaderBytes, "-byte limit")
            : absl::StrCat("the ", file.size() - 8, " bytes after the 8-byte length (the file "
                           "is truncated or not safetensors)");
    return Invalid(source, absl::StrCat("header length ", n, " exceeds ", bound));
  }
  absl::string_view text = file.substr(8, n);
  if (text.empty() || text[0] != '{') return Invalid(source, "header does not start with '{'");
  ZT_ASSIGN_OR_RETURN(Json json, ParseStrictJson(text, source));
  if (!json.is_object()) return Invalid(source, "header is not a JSON object");
  SafetensorsHeader header;
  header.data_start = 8 + n;
  for (const auto& [name, value] : json.items()) {
    if (name == "__metadata__") {
      ZT_RETURN_IF_ERROR(ParseMetadata(value, source, &header.metadata));
      continue;
    }
    ZT_ASSIGN_OR_RETURN(SafetensorsEntry entry, ParseEntry(name, value, source));
    header.tensors.push_back(std::move(entry));
  }
  ZT_RETURN_IF_ERROR(CheckTiling(header.tensors, file.size() - header.data_start, source));
  for (const SafetensorsEntry& entry : header.tensors) {
    ZT_RETURN_IF_ERROR(CheckByteLength(entry, source));
  }
  return header;
}

absl::StatusOr<SafetensorsLayout> PlanSafetensorsLayout(
    const std::vector<SafetensorsTensorSpec>& specs,
    const std::map<std::string, std::string>& metadata) {
  std::vector<size_t> order(specs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int bits_a = SafetensorsDtypeBits(specs[a].dtype);
    const int bits_b = SafetensorsDtypeBits(specs[b].dtype);
    return bits_a != bits_b ? bits_a > bits_b : specs[a].name < specs[b].name;
  });
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  SafetensorsLayout layout;
  layout.offsets.resize(specs.size());
  for (size_t i : order) {
    const SafetensorsTensorSpec& spec = specs[i];
    if (spec.name.empty() || spec.name == "__metadata__" || header.contains(spec.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors writer: tensor name \"", spec.name, "\" is empty, reserved or repeated"));
    }
    uint64_t bits = static_cast<uint64_t>(SafetensorsDtypeBits(spec.dtype));
    for (int64_t d : spec.shape) {
      if (d < 0 || MulOverflows(bits, static_cast<uint64_t>(d), &bits)) {
        return absl::InvalidArgumentError(absl::StrCat("safetensors writer: tensor \"", spec.name,
                                                       "\" has a bad shape [", absl::StrJoin(spec.shape, ", "), "]"));
      }
    }
    if (bits % 8 != 0) {
      return absl::InvalidArgumentError(absl::StrCat("safetensors writer: tensor \"", spec.name,
                                                     "\" is not a whole number of bytes"));
    }
    layout.offsets[i] = layout.buffer_bytes;
    header[spec.name] = {{"dtype", SafetensorsDtypeName(spec.dtype)},
                         {"shape", spec.shape},
                         {"data_offsets", {layout.buffer_bytes, layout.buffer_bytes + bits / 8}}};
    layout.buffer_bytes += bits / 8;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();
  layout.prefix.resize(8);
  std::memcpy(layout.prefix.data(), &n, 8);
  layout.prefix += text;
  return layout;
}

}  // namespace zt::worker::io
