// Unicode NFC (utf8proc) with an alignment back to the input, so token offsets computed on the
// normalized text can be reported on the text the caller gave.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zt::worker::data {

struct NormalizedText {
  std::string text;
  // origin[i]: byte offset in the input of the character run that produced text byte i. Empty
  // when normalization changed nothing (text == input, the identity alignment).
  std::vector<uint32_t> origin;

  size_t Origin(size_t i) const { return origin.empty() ? i : origin[i]; }
};

// NFC of `input` (valid UTF-8). The input is normalized in runs that start before every
// ASCII, CJK-ideograph or Hangul-syllable character (NFC never composes across such a start),
// and every byte of a run's output maps to the run's first input byte. InvalidArgument when
// `input` is not valid UTF-8.
absl::StatusOr<NormalizedText> NormalizeNfc(absl::string_view input);

// Whether `text` is valid UTF-8 (no surrogates, no overlong forms, at most U+10FFFF). On failure
// sets *error_offset to the byte where the first bad sequence starts.
bool IsValidUtf8(absl::string_view text, size_t* error_offset = nullptr);

}  // namespace zt::worker::data
