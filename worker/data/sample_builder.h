// Turns dataset records into training samples (input_ids + labels): renders conversations with
// the chat template, encodes the whole text once (special tokens are recognised only where the
// template wrote them; typed into data they are encoded as text and counted), labels tokens by
// the loss-mask policy, and truncates to model_max_length. Text records are encoded as they are
// (special tokens split), every token trained, EOS appended. Tokenized records are taken as they
// are (BuildTokenizedSample: no tokenizer needed).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/chat_template.h"
#include "worker/data/dataset_record.h"
#include "worker/data/loss_mask.h"
#include "worker/data/tokenizer.h"

namespace zt::worker::data {

struct TokenizedSample {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> labels;  // kIgnoreIndex where masked
  bool truncated = false;
  int64_t untrusted_special_tokens = 0;
};

struct SampleOptions {
  ChatTemplateKind template_kind = ChatTemplateKind::kQwen25;
  LossMaskPolicy loss_mask = LossMaskPolicy::kAssistant;
  int64_t model_max_length = 2048;
  std::optional<std::string> system;  // --system
  std::string bos_token;
  std::string eos_token;
  int64_t vocab_size = 0;  // the model's embedding rows: tokenized ids must be below; 0 = unknown
};

// A tokenized record as a sample: its ids, its labels (every token trained without them),
// truncated to `model_max_length`. InvalidArgument "<where>: input_ids[i]: ..." naming the id
// when an id or label is >= vocab_size (vocab_size 0: not checked).
absl::StatusOr<TokenizedSample> BuildTokenizedSample(const DataRecord& record, int64_t vocab_size,
                                                     int64_t model_max_length, absl::string_view where);

class SampleBuilder {
 public:
  // `tokenizer` must outlive the builder. InvalidArgument when eos_token is not a token.
  static absl::StatusOr<SampleBuilder> Create(const Tokenizer* tokenizer, SampleOptions options);

  // `where` names the record in errors.
  absl::StatusOr<TokenizedSample> Build(const DataRecord& record, absl::string_view where) const;

  // The rendered text and its spans (what Build tokenizes); for inspection and tests.
  absl::StatusOr<RenderedChat> Render(const DataRecord& record) const;

 private:
  SampleBuilder(const Tokenizer* tokenizer, SampleOptions options, int32_t eos_id)
      : tokenizer_(tokenizer), options_(std::move(options)), eos_id_(eos_id) {}

  const Tokenizer* tokenizer_;
  SampleOptions options_;
  int32_t eos_id_;
};

}  // namespace zt::worker::data
