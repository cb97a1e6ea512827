#include "worker/data/byte_level.h"

#include <array>

namespace zt::worker::data {
namespace {

bool MapsToItself(unsigned b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Alphabet {
  std::array<char32_t, 256> to_code_point{};
  std::array<int, 0x144> from_code_point{};  // every alphabet code point is < U+0144

  Alphabet() {
    from_code_point.fill(-1);
    char32_t next = 0x100;
    for (unsigned b = 0; b < 256; ++b) {
      to_code_point[b] = MapsToItself(b) ? static_cast<char32_t>(b) : next++;
      from_code_point[to_code_point[b]] = static_cast<int>(b);
    }
  }
};

const Alphabet& GetAlphabet() {
  static const Alphabet* alphabet = new Alphabet();
  return *alphabet;
}

void AppendUtf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else {  // the alphabet never leaves the two-byte range
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

char32_t ByteToCodePoint(unsigned char b) { return GetAlphabet().to_code_point[b]; }

std::string BytesToByteLevel(absl::string_view bytes) {
  const Alphabet& alphabet = GetAlphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) AppendUtf8(alphabet.to_code_point[b], out);
  return out;
}

std::optional<std::string> ByteLevelToBytes(absl::string_view text) {
  const Alphabet& alphabet = GetAlphabet();
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    char32_t cp;
    if (lead < 0x80) {
      cp = lead;
      i += 1;
    } else if ((lead & 0xE0) == 0xC0 && i + 1 < text.size() &&
               (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80) {
      cp = ((lead & 0x1F) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3F);
      i += 2;
      if (cp < 0x80) return std::nullopt;  // overlong encoding
    } else {
      return std::nullopt;
    }
    if (cp >= alphabet.from_code_point.size() || alphabet.from_code_point[cp] < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(alphabet.from_code_point[cp]));
  }
  return out;
}

}  // namespace zt::worker::data
