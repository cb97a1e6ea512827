// Which tokens of a rendered conversation are trained (label = token id) and which are masked
// (label = -100), decided on character spans of the rendered text and mapped to tokens through
// their offsets: a token takes the label of the span holding its first byte.
//
//   assistant  assistant content, its reasoning / tool-call text, its closing end token
//              (<|im_end|>, <|eot_id|>, Alpaca's eos) and the "\n" after <|im_end|>
//   qwen       QwenLM/Qwen finetune.py: in every turn <|im_start|>, <|im_end|> and the "\n"
//              after it are trained; role names are masked; content is trained only in
//              assistant turns (ChatML templates only)
//   all        every token (only padding is masked)
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/data/chat_template.h"

namespace zt::worker::data {

inline constexpr int32_t kIgnoreIndex = -100;

enum class LossMaskPolicy { kAssistant, kQwen, kAll };

// "assistant", "qwen", "all"; InvalidArgument naming --loss_mask otherwise.
absl::StatusOr<LossMaskPolicy> ParseLossMaskPolicy(absl::string_view name);

// One flag per byte of chat.text: 1 when trained. InvalidArgument for the qwen policy under a
// template that is not ChatML.
absl::StatusOr<std::vector<uint8_t>> TrainedBytes(const RenderedChat& chat, ChatTemplateKind kind,
                                                  LossMaskPolicy policy);

// labels[i] = ids[i] when trained[offsets[i].begin], else kIgnoreIndex (also for tokens with an
// empty range at the end of the text).
std::vector<int32_t> LabelsFromOffsets(const std::vector<int32_t>& ids, const std::vector<ByteSpan>& offsets,
                                       const std::vector<uint8_t>& trained);

}  // namespace zt::worker::data
