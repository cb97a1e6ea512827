// Fuzzes tokenizer.json parsing and, when a file loads, encoding and decoding with it: no input
// may crash, hang or trip a sanitizer; bad files are errors.
#include <cstddef>
#include <cstdint>
#include <string>

#include "worker/data/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  auto tokenizer = zt::worker::data::Tokenizer::FromJson(json, "fuzz.json");
  if (!tokenizer.ok()) return 0;
  for (const char* text : {"Hello, world! 你好 <s> it's 123\r\n\t", "", "ab abc <s><s>"}) {
    auto ids = (*tokenizer)->EncodeIds(text);
    if (ids.ok()) (void)(*tokenizer)->Decode(*ids, /*skip_special_tokens=*/true);
  }
  zt::worker::data::EncodeOptions split;
  split.split_special_tokens = true;
  (void)(*tokenizer)->EncodeIds(json.substr(0, 256), split);
  return 0;
}
