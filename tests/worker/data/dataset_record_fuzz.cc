// Fuzzes dataset records: one JSON line goes through parsing (every format), conversation
// building, rendering with every shipped chat template and every loss-mask policy. No input may
// crash or trip a sanitizer; bad records are errors naming the field.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "worker/data/alpaca_prompt.h"
#include "worker/data/dataset_record.h"
#include "worker/data/loss_mask.h"
#include "worker/data/sample_builder.h"

using zt::worker::data::ChatTemplateKind;
using zt::worker::data::DatasetFormat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto json = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return 0;
  for (DatasetFormat format : {DatasetFormat::kAuto, DatasetFormat::kConversations, DatasetFormat::kMessages,
                               DatasetFormat::kAlpaca, DatasetFormat::kText, DatasetFormat::kTokenized}) {
    auto record = zt::worker::data::ParseDataRecord(json, format, "fuzz:1");
    if (!record.ok()) continue;
    if (record->format == DatasetFormat::kTokenized) {
      (void)zt::worker::data::BuildTokenizedSample(*record, /*vocab_size=*/128, /*model_max_length=*/16, "fuzz:1");
      continue;
    }
    const auto messages = zt::worker::data::RecordConversation(*record);
    for (ChatTemplateKind kind : {ChatTemplateKind::kQwen2, ChatTemplateKind::kQwen25, ChatTemplateKind::kQwen3,
                                  ChatTemplateKind::kLlama3, ChatTemplateKind::kAlpaca}) {
      zt::worker::data::ChatRenderOptions options;
      options.tools = record->tools;
      options.add_generation_prompt = size % 2 == 0;
      auto chat = zt::worker::data::RenderChat(kind, messages, options);
      if (!chat.ok()) continue;
      for (auto policy : {zt::worker::data::LossMaskPolicy::kAssistant, zt::worker::data::LossMaskPolicy::kQwen,
                          zt::worker::data::LossMaskPolicy::kAll}) {
        (void)zt::worker::data::TrainedBytes(*chat, kind, policy);
      }
      (void)chat->TrustedRanges();
    }
  }
  return 0;
}
