#include "worker/data/sample_builder.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/data/alpaca_prompt.h"

namespace zt::worker::data {

absl::StatusOr<SampleBuilder> SampleBuilder::Create(const Tokenizer* tokenizer, SampleOptions options) {
  const int32_t eos_id = tokenizer->TokenToId(options.eos_token);
  if (options.eos_token.empty() || eos_id < 0) {
    return absl::InvalidArgumentError(absl::StrCat("eos_token '", options.eos_token,
                                                   "' (tokenizer_config.json) is not a token of the tokenizer"));
  }
  if (options.model_max_length <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("--model_max_length ", options.model_max_length, ": expected > 0"));
  }
  return SampleBuilder(tokenizer, std::move(options), eos_id);
}

absl::StatusOr<RenderedChat> SampleBuilder::Render(const DataRecord& record) const {
  if (record.format == DatasetFormat::kAlpaca && options_.template_kind == ChatTemplateKind::kAlpaca) {
    return RenderAlpacaRecord(record.alpaca.instruction, record.alpaca.input, record.alpaca.output,
                              options_.eos_token);
  }
  ChatRenderOptions render;
  render.tools = record.tools;
  render.system = options_.system;
  render.bos_token = options_.bos_token;
  render.eos_token = options_.eos_token;
  return RenderChat(options_.template_kind, RecordConversation(record), render);
}

absl::StatusOr<TokenizedSample> SampleBuilder::Build(const DataRecord& record, absl::string_view where) const {
  TokenizedSample sample;
  EncodeOptions encode;
  encode.split_special_tokens = true;
  if (record.format == DatasetFormat::kText) {
    auto encoding = tokenizer_->Encode(record.text, encode);
    if (!encoding.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": text: ", encoding.status().message()));
    sample.input_ids = std::move(encoding->ids);
    sample.input_ids.push_back(eos_id_);
    sample.labels = sample.input_ids;
    sample.untrusted_special_tokens = encoding->untrusted_special_tokens;
  } else {
    auto chat = Render(record);
    if (!chat.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", chat.status().message()));
    const std::vector<ByteSpan> trusted = chat->TrustedRanges();
    encode.trusted = &trusted;
    auto encoding = tokenizer_->Encode(chat->text, encode);
    if (!encoding.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", encoding.status().message()));
    ZT_ASSIGN_OR_RETURN(std::vector<uint8_t> trained, TrainedBytes(*chat, options_.template_kind, options_.loss_mask));
    sample.labels = LabelsFromOffsets(encoding->ids, encoding->offsets, trained);
    sample.input_ids = std::move(encoding->ids);
    sample.untrusted_special_tokens = encoding->untrusted_special_tokens;
  }
  if (static_cast<int64_t>(sample.input_ids.size()) > options_.model_max_length) {
    sample.input_ids.resize(options_.model_max_length);
    sample.labels.resize(options_.model_max_length);
    sample.truncated = true;
  }
  return sample;
}

}  // namespace zt::worker::data
