// GPT-2's byte-level alphabet, as HF tokenizers' ByteLevel pre-tokenizer and decoder use it:
// every byte maps to one printable code point (bytes '!'..'~', U+00A1..U+00AC and
// U+00AE..U+00FF map to themselves; the other 68 bytes map in increasing order to U+0100...).
// Vocabulary entries of a byte-level BPE are strings in this alphabet.
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace zt::worker::data {

// The code point byte `b` maps to.
char32_t ByteToCodePoint(unsigned char b);

// UTF-8 text of the alphabet string for raw `bytes` (each byte becomes one code point).
std::string BytesToByteLevel(absl::string_view bytes);

// Inverse of BytesToByteLevel: the raw bytes a byte-level string stands for, or nullopt when
// `text` is not valid UTF-8 or holds a code point outside the 256-symbol alphabet.
std::optional<std::string> ByteLevelToBytes(absl::string_view text);

}  // namespace zt::worker::data
