// A model's weights as HF stores them in a folder: one `model.safetensors`, or shards listed by
// `model.safetensors.index.json` ({"metadata": {"total_size": N}, "weight_map": {name: shard}}).
// Reading opens every shard (memory-mapped, zero-copy as SafetensorsFile); writing splits
// tensors into shards of at most max_shard_size bytes as huggingface_hub does.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "absl/status/statusor.h"
#include "worker/io/safetensors_file.h"

namespace zt::worker::io {

class ShardedSafetensors {
 public:
  // Opens `dir`/<stem>.safetensors.index.json when present (every shard it names must exist,
  // every tensor must be in exactly the shard the index says), else `dir`/<stem>.safetensors.
  // NotFound naming the folder when neither exists.
  static absl::StatusOr<ShardedSafetensors> Open(const std::string& dir,
                                                 const std::string& stem = "model");

  std::vector<std::string> Names() const;  // sorted
  bool Contains(const std::string& name) const { return where_.count(name) > 0; }
  // As SafetensorsFile::Get; NotFound names the folder and the tensor.
  absl::StatusOr<at::Tensor> Get(const std::string& name) const;
  // The file a tensor lives in (for messages), or "".
  std::string FileOf(const std::string& name) const;
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  std::string dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;  // tensor name -> index into files_
};

// "5GB" -> 5e9, "500MB", "2GiB" -> 2^31, "1024" -> 1024 (huggingface_hub units: KB/MB/GB/TB
// are powers of 1000, KiB/MiB/GiB/TiB powers of 1024). InvalidArgument naming `flag`.
absl::StatusOr<uint64_t> ParseByteSize(const std::string& text, const std::string& flag);

// Writes `tensors` into `dir` as <stem>.safetensors when they fit in one shard of
// `max_shard_bytes`, else as <stem>-0000k-of-0000N.safetensors plus the index json. Tensors are
// taken in the given order; a shard is closed when the next tensor would overflow it; a tensor
// larger than the limit gets a shard of its own. Removes stale files of the other layout.
absl::Status WriteShardedSafetensors(const std::string& dir, const NamedTensors& tensors,
                                     uint64_t max_shard_bytes, const std::string& stem = "model");

}  // namespace zt::worker::io
