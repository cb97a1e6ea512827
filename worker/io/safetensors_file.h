// safetensors files as LibTorch tensors: reading through a copy-on-write memory mapping with
// zero-copy tensors, and writing (always with {"format": "pt"} metadata, the layout of the
// reference writer). The container rules are in safetensors_format.h.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "absl/status/statusor.h"
#include "worker/io/mapped_file.h"
#include "worker/io/safetensors_format.h"

namespace zt::worker::io {

// torch dtype <-> safetensors dtype for the types LibTorch has (F32, F16, BF16, F64, I8, U8,
// I16, I32, I64, BOOL). InvalidArgument naming the dtype otherwise.
absl::StatusOr<at::ScalarType> ToScalarType(SafetensorsDtype dtype);
absl::StatusOr<SafetensorsDtype> ToSafetensorsDtype(at::ScalarType dtype);

// One opened, validated file. Thread-safe for concurrent reads. Tensors returned by Get alias
// the mapping (which they keep alive) when their data is aligned for the dtype, and are copies
// otherwise (third-party writers need not align).
class SafetensorsFile {
 public:
  // Maps and validates `path`: errors of MappedFile::Open or ParseSafetensorsHeader.
  static absl::StatusOr<std::shared_ptr<SafetensorsFile>> Open(const std::string& path);

  const std::string& path() const { return mapping_->path(); }
  const SafetensorsHeader& header() const { return header_; }
  const MappedFile& mapping() const { return *mapping_; }
  std::vector<std::string> Names() const;
  bool Contains(const std::string& name) const { return header_.Find(name) >= 0; }

  // The named tensor on the CPU. NotFound naming the file and the tensor (with a hint) when
  // absent; InvalidArgument when its dtype has no LibTorch equivalent.
  absl::StatusOr<at::Tensor> Get(const std::string& name) const;

 private:
  SafetensorsFile(std::shared_ptr<MappedFile> mapping, SafetensorsHeader header)
      : mapping_(std::move(mapping)), header_(std::move(header)) {}
  std::shared_ptr<MappedFile> mapping_;
  SafetensorsHeader header_;
};

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Writes `tensors` (any device, any layout; copied to contiguous CPU bytes) to `path` through a
// temporary file renamed into place. `metadata` gets "format": "pt" unless it sets "format".
// InvalidArgument for duplicate names or unsupported dtypes; Internal for I/O errors, naming
// the path.
absl::Status WriteSafetensors(const std::string& path, const NamedTensors& tensors,
                              std::map<std::string, std::string> metadata = {});

}  // namespace zt::worker::io
