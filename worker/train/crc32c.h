// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) and the "masked" form TFRecord files
// (TensorBoard event files) store beside each record's length and data.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace zt::worker::train {

// CRC32C of `data`, continuing from `crc` (the CRC of the bytes before it; 0 to start).
// Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(absl::string_view data, uint32_t crc = 0);

// TFRecord's masking of a stored CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2^32), so a
// CRC computed over data that itself contains CRCs does not degenerate.
uint32_t MaskCrc32c(uint32_t crc);

// The inverse of MaskCrc32c.
uint32_t UnmaskCrc32c(uint32_t masked);

}  // namespace zt::worker::train
