// libFuzzer target: arbitrary bytes through DeepSpeed-compatible reading and the whole ds_config
// resolution (with and without HF training arguments). Must never crash, hang or leak; errors
// are expected and ignored.
#include <cstddef>
#include <cstdint>

#include "configs/ds_config.h"
#include "configs/json_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<nlohmann::json> raw = zt::configs::ReadTolerantJson(text, "fuzz.json");
  if (!raw.ok()) return 0;
  zt::configs::TrainingArguments args;
  for (int with_args = 0; with_args < 2; ++with_args) {
    zt::configs::DsResolveOptions options;
    options.world_size = 1 + static_cast<int64_t>(size % 4);
    options.args = with_args ? &args : nullptr;
    options.hidden_size = 64;
    options.num_training_steps = 10;
    zt::configs::Diagnostics diag;
    zt::configs::DsConfig config = zt::configs::ResolveDsConfig(*raw, options, diag);
    if (!diag.has_errors()) (void)config.resolved.dump();
  }
  return 0;
}
