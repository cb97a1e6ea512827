#include "worker/data/nfc.h"

#include <cstdlib>

#include <utf8proc.h>

#include "absl/strings/str_cat.h"

namespace zt::worker::data {
namespace {

// A character that no NFC composition or reordering can join to the text before it.
bool StartsRun(utf8proc_int32_t cp) {
  return cp < 0x80 || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7A3);
}

absl::StatusOr<std::string> Nfc(absl::string_view run) {
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(run.data()),
                   static_cast<utf8proc_ssize_t>(run.size()), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) {
    return absl::InvalidArgumentError(absl::StrCat("NFC: ", utf8proc_errmsg(n)));
  }
  std::string result(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

}  // namespace

bool IsValidUtf8(absl::string_view text, size_t* error_offset) {
  size_t i = 0;
  while (i < text.size()) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + i),
                                          static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (n <= 0) {
      if (error_offset != nullptr) *error_offset = i;
      return false;
    }
    i += static_cast<size_t>(n);
  }
  return true;
}

absl::StatusOr<NormalizedText> NormalizeNfc(absl::string_view input) {
  NormalizedText result;
  // Fast path: pure ASCII is already NFC.
  bool ascii = true;
  for (unsigned char c : input) {
    if (c >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    result.text = std::string(input);
    return result;
  }
  auto whole = Nfc(input);
  if (!whole.ok()) return whole.status();
  if (*whole == input) {
    result.text = *std::move(whole);
    return result;
  }
  // Normalization changed something: redo it run by run to learn where each byte came from.
  size_t run_begin = 0;
  size_t i = 0;
  auto flush = [&](size_t run_end) -> absl::Status {
    if (run_end == run_begin) return absl::OkStatus();
    auto part = Nfc(input.substr(run_begin, run_end - run_begin));
    if (!part.ok()) return part.status();
    result.text += *part;
    result.origin.insert(result.origin.end(), part->size(), static_cast<uint32_t>(run_begin));
    run_begin = run_end;
    return absl::OkStatus();
  };
  while (i < input.size()) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(input.data() + i),
                                          static_cast<utf8proc_ssize_t>(input.size() - i), &cp);
    if (n <= 0) return absl::InvalidArgumentError(absl::StrCat("invalid UTF-8 at byte ", i));
    if (StartsRun(cp)) {
      absl::Status status = flush(i);
      if (!status.ok()) return status;
    }
    i += static_cast<size_t>(n);
  }
  absl::Status status = flush(input.size());
  if (!status.ok()) return status;
  return result;
}

}  // namespace zt::worker::data
