#include "worker/model/model_folder.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/io/peft_adapter.h"
#include "worker/io/sharded_safetensors.h"
#include "worker/model/lora_model.h"

namespace zt::worker::model {

absl::StatusOr<at::ScalarType> ParseDtypeFlag(const std::string& text, const std::string& flag) {
  if (text == "fp32" || text == "float32") return at::kFloat;
  if (text == "bf16" || text == "bfloat16") return at::kBFloat16;
  if (text == "fp16" || text == "float16") return at::kHalf;
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " \"", text, "\", expected fp32, bf16 or fp16"));
}

absl::StatusOr<Decoder> LoadModelFolder(const std::string& dir, at::ScalarType dtype,
                                        const std::string& adapter_dir,
                                        const Load4bitOptions* four_bit) {
  ZT_ASSIGN_OR_RETURN(DecoderConfig config, LoadDecoderConfig(dir));
  ZT_ASSIGN_OR_RETURN(io::ShardedSafetensors weights, io::ShardedSafetensors::Open(dir));
  ZT_ASSIGN_OR_RETURN(Decoder decoder, Decoder::Load(config, weights, dtype, four_bit));
  if (!adapter_dir.empty()) {
    ZT_ASSIGN_OR_RETURN(io::PeftAdapter adapter, io::ReadPeftAdapter(adapter_dir));
    ZT_RETURN_IF_ERROR(AttachPeftAdapter(decoder, adapter));
  }
  return decoder;
}

}  // namespace zt::worker::model
