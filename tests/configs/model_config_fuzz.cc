// libFuzzer target: arbitrary bytes as an HF config.json, then parameter counting. Must never
// crash; parse errors are expected.
#include <cstddef>
#include <cstdint>

#include "configs/json_reader.h"
#include "configs/lora_target_modules.h"
#include "configs/model_config.h"
#include "configs/parameter_count.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<nlohmann::json> raw = zt::configs::ReadTolerantJson(text, "config.json");
  if (!raw.ok()) return 0;
  absl::StatusOr<zt::configs::ModelConfig> config = zt::configs::ParseModelConfig(*raw, "config.json");
  if (!config.ok()) return 0;
  (void)zt::configs::CountParameters(*config);
  return 0;
}
