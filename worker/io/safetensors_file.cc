#include "worker/io/safetensors_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace zt::worker::io {
namespace {

struct DtypePair {
  SafetensorsDtype st;
  at::ScalarType torch;
};

constexpr DtypePair kPairs[] = {
    {SafetensorsDtype::kF32, at::kFloat}, {SafetensorsDtype::kF16, at::kHalf},
    {SafetensorsDtype::kBF16, at::kBFloat16}, {SafetensorsDtype::kF64, at::kDouble},
    {SafetensorsDtype::kI8, at::kChar}, {SafetensorsDtype::kU8, at::kByte},
    {SafetensorsDtype::kI16, at::kShort}, {SafetensorsDtype::kI32, at::kInt},
    {SafetensorsDtype::kI64, at::kLong}, {SafetensorsDtype::kBool, at::kBool},
};

// Closes the FILE on scope exit; the rename happens only after a successful fclose.
struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr) std::fclose(f);
  }
};

absl::Status IoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<at::ScalarType> ToScalarType(SafetensorsDtype dtype) {
  for (const DtypePair& p : kPairs) {
    if (p.st == dtype) return p.torch;
  }
  return absl::InvalidArgumentError(absl::StrCat("safetensors dtype ", SafetensorsDtypeName(dtype),
                                                 " has no LibTorch equivalent in this build"));
}

absl::StatusOr<SafetensorsDtype> ToSafetensorsDtype(at::ScalarType dtype) {
  for (const DtypePair& p : kPairs) {
    if (p.torch == dtype) return p.st;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("torch dtype ", c10::toString(dtype), " cannot be written to safetensors"));
}

absl::StatusOr<std::shared_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  ZT_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> mapping, MappedFile::Open(path));
  ZT_ASSIGN_OR_RETURN(SafetensorsHeader header, ParseSafetensorsHeader(mapping->bytes(), path));
  return std::shared_ptr<SafetensorsFile>(new SafetensorsFile(std::move(mapping), std::move(header)));
}

std::vector<std::string> SafetensorsFile::Names() const {
  std::vector<std::string> names;
  names.reserve(header_.tensors.size());
  for (const SafetensorsEntry& e : header_.tensors) names.push_back(e.name);
  return names;
}

absl::StatusOr<at::Tensor> SafetensorsFile::Get(const std::string& name) const {
  const int index = header_.Find(name);
  if (index < 0) {
    return absl::NotFoundError(absl::StrCat(path(), ": no tensor named \"", name, "\" among ",
                                            header_.tensors.size(),
                                            " tensors (hint: maybe wrong base model?)"));
  }
  const SafetensorsEntry& entry = header_.tensors[index];
  auto dtype = ToScalarType(entry.dtype);
  if (!dtype.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path(), ": tensor \"", name, "\": ", dtype.status().message()));
  }
  const auto options = at::TensorOptions().dtype(*dtype).device(at::kCPU);
  char* data = mapping_->data() + header_.data_start + entry.begin;
  const size_t element = c10::elementSize(*dtype);
  if (entry.byte_size() == 0) return at::empty(entry.shape, options);
  if (reinterpret_cast<uintptr_t>(data) % element == 0) {
    std::shared_ptr<MappedFile> keep = mapping_;
    return at::from_blob(data, entry.shape, [keep](void*) {}, options);
  }
  at::Tensor copy = at::empty(entry.shape, options);
  std::memcpy(copy.data_ptr(), data, entry.byte_size());
  return copy;
}

absl::Status WriteSafetensors(const std::string& path, const NamedTensors& tensors,
                              std::map<std::string, std::string> metadata) {
  metadata.emplace("format", "pt");
  std::vector<SafetensorsTensorSpec> specs;
  std::vector<at::Tensor> cpu;
  for (const auto& [name, tensor] : tensors) {
    auto dtype = ToSafetensorsDtype(tensor.scalar_type());
    if (!dtype.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor \"", name, "\": ", dtype.status().message()));
    }
    specs.push_back({name, *dtype, tensor.sizes().vec()});
    cpu.push_back(tensor.detach().to(at::kCPU).contiguous());
  }
  ZT_ASSIGN_OR_RETURN(SafetensorsLayout layout, PlanSafetensorsLayout(specs, metadata));
  std::vector<size_t> order(specs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return layout.offsets[a] < layout.offsets[b]; });
  const std::string tmp = path + ".tmp";
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(tmp.c_str(), "wb"));
  if (!file) return IoError("create", tmp);
  bool ok = std::fwrite(layout.prefix.data(), 1, layout.prefix.size(), file.get()) ==
            layout.prefix.size();
  for (size_t i : order) {
    const size_t n = cpu[i].nbytes();
    ok = ok && (n == 0 || std::fwrite(cpu[i].data_ptr(), 1, n, file.get()) == n);
  }
  if (!ok) return IoError("write", tmp);
  if (std::fclose(file.release()) != 0) return IoError("close", tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return IoError("rename into", path);
  return absl::OkStatus();
}

}  // namespace zt::worker::io
