#include "worker/data/sample_builder.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/data/alpaca_prompt.h"

namespace zt::worker::data {
namespace {

absl::Status CheckBelowVocab(const std::vector<int32_t>& ids, const char* key, int64_t vocab_size,
                             absl::string_view where) {
  if (vocab_size <= 0) return absl::OkStatus();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", key, "[", i, "]: expected a token id below the ",
                                                     "model's vocab_size ", vocab_size, ", got ", ids[i]));
    }
  }
  return absl::OkStatus();
}

void Truncate(TokenizedSample& sample, int64_t model_max_length) {
  if (static_cast<int64_t>(sample.input_ids.size()) <= model_max_length) return;
  sample.input_ids.resize(model_max_length);
  sample.labels.resize(model_max_length);
  sample.truncated = true;
}

}  // namespace

absl::StatusOr<TokenizedSample> BuildTokenizedSample(const DataRecord& record, int64_t vocab_size,
                                                     int64_t model_max_length, absl::string_view where) {
  ZT_RETURN_IF_ERROR(CheckBelowVocab(record.input_ids, "input_ids", vocab_size, where));
  if (record.labels.has_value()) ZT_RETURN_IF_ERROR(CheckBelowVocab(*record.labels, "labels", vocab_size, where));
  TokenizedSample sample;
  sample.input_ids = record.input_ids;
  sample.labels = record.labels.value_or(record.input_ids);
  Truncate(sample, model_max_length);
  return sample;
}

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
  if (record.format == DatasetFormat::kTokenized) {
    return absl::InvalidArgumentError("input_ids: a tokenized record has no text to render");
  }
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
  if (record.format == DatasetFormat::kTokenized) {
    return BuildTokenizedSample(record, options_.vocab_size, options_.model_max_length, where);
  }
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
  Truncate(sample, options_.model_max_length);
  return sample;
}

}  // namespace zt::worker::data
