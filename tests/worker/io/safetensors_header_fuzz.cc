// Fuzzes the safetensors header parser and validator over whole-file byte strings: it must never
// crash, hang or read outside the input, and every accepted header must describe the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "worker/io/safetensors_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view file(reinterpret_cast<const char*>(data), size);
  auto header = zt::worker::io::ParseSafetensorsHeader(file, "fuzz.safetensors");
  if (!header.ok()) return 0;
  uint64_t end = 0;
  for (const auto& entry : header->tensors) {
    if (entry.begin != end) std::abort();
    end = entry.end;
  }
  if (header->data_start + end != size) std::abort();
  return 0;
}
