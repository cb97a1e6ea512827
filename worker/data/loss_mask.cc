#include "worker/data/loss_mask.h"

#include "absl/strings/str_cat.h"

namespace zt::worker::data {
namespace {

bool AssistantTrains(const RenderedSpan& s) {
  if (s.role != "assistant") return false;
  switch (s.part) {
    case TurnPart::kContent:
    case TurnPart::kReasoning:
    case TurnPart::kToolCall:
    case TurnPart::kEnd:
    case TurnPart::kSeparator:
      return true;
    default:
      return false;
  }
}

bool QwenTrains(const RenderedSpan& s) {
  switch (s.part) {
    case TurnPart::kStart:
    case TurnPart::kEnd:
    case TurnPart::kSeparator:
      return true;
    case TurnPart::kContent:
    case TurnPart::kReasoning:
    case TurnPart::kToolCall:
      return s.role == "assistant";
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<LossMaskPolicy> ParseLossMaskPolicy(absl::string_view name) {
  if (name == "assistant") return LossMaskPolicy::kAssistant;
  if (name == "qwen") return LossMaskPolicy::kQwen;
  if (name == "all") return LossMaskPolicy::kAll;
  return absl::InvalidArgumentError(absl::StrCat("--loss_mask '", name, "' is not one of assistant, qwen, all"));
}

absl::StatusOr<std::vector<uint8_t>> TrainedBytes(const RenderedChat& chat, ChatTemplateKind kind,
                                                  LossMaskPolicy policy) {
  if (policy == LossMaskPolicy::kQwen && kind != ChatTemplateKind::kQwen2 && kind != ChatTemplateKind::kQwen25 &&
      kind != ChatTemplateKind::kQwen3) {
    return absl::InvalidArgumentError(absl::StrCat("--loss_mask qwen needs a ChatML template (qwen2, qwen2.5, qwen3), not ",
                                                   ChatTemplateName(kind)));
  }
  std::vector<uint8_t> trained(chat.text.size(), 0);
  for (const RenderedSpan& s : chat.spans) {
    bool on = false;
    switch (policy) {
      case LossMaskPolicy::kAssistant: on = AssistantTrains(s); break;
      case LossMaskPolicy::kQwen: on = QwenTrains(s); break;
      case LossMaskPolicy::kAll: on = true; break;
    }
    if (on) std::fill(trained.begin() + s.span.begin, trained.begin() + s.span.end, 1);
  }
  return trained;
}

std::vector<int32_t> LabelsFromOffsets(const std::vector<int32_t>& ids, const std::vector<ByteSpan>& offsets,
                                       const std::vector<uint8_t>& trained) {
  std::vector<int32_t> labels(ids.size(), kIgnoreIndex);
  for (size_t i = 0; i < ids.size(); ++i) {
    const size_t first = offsets[i].begin;
    if (offsets[i].end > first && first < trained.size() && trained[first]) labels[i] = ids[i];
  }
  return labels;
}

}  // namespace zt::worker::data
