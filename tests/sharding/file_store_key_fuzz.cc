// Fuzz target: file names found in a store folder are outside data. Decoding must never
// crash, and whatever decodes must encode back to the same name (one name per key).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "sharding/collectives/file_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string name(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::string> key = zt::sharding::DecodeKeyFileName(name);
  if (key.ok()) {
    absl::StatusOr<std::string> again = zt::sharding::EncodeKeyFileName(*key);
    if (!again.ok() || *again != name) std::abort();
  }
  absl::StatusOr<std::string> encoded = zt::sharding::EncodeKeyFileName(name);
  if (encoded.ok()) {
    absl::StatusOr<std::string> decoded = zt::sharding::DecodeKeyFileName(*encoded);
    if (!decoded.ok() || *decoded != name) std::abort();
  }
  return 0;
}
