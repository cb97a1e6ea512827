#include "worker/train/training_data.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/torch_compat.h"
#include "configs/model_config.h"
#include "worker/data/dataset_file.h"
#include "worker/data/dataset_record.h"
#include "worker/data/loss_mask.h"
#include "worker/train/chunked_lm_loss.h"

namespace zt::worker::train {
namespace {

struct ParsedRecord {
  std::string where;
  data::DataRecord record;
};

absl::StatusOr<std::vector<ParsedRecord>> ReadRecords(const std::string& flag,
                                                      const std::string& data_path, uint64_t seed) {
  absl::StatusOr<std::vector<data::DatasetSpec>> specs = data::ParseDatasetSpecs(data_path);
  if (!specs.ok())
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", specs.status().message()));
  int64_t skipped = 0;
  ZT_ASSIGN_OR_RETURN(std::vector<data::RawRecord> raw,
                      data::ReadDatasets(*specs, seed, /*skip_bad=*/false, &skipped));
  if (raw.empty())
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", data_path, ": no records"));
  std::vector<ParsedRecord> out;
  out.reserve(raw.size());
  for (const data::RawRecord& r : raw) {
    ZT_ASSIGN_OR_RETURN(data::DataRecord record,
                        data::ParseDataRecord(r.value, data::DatasetFormat::kAuto, r.where));
    out.push_back({r.where, std::move(record)});
  }
  return out;
}

// `builder` is null when every record is tokenized (then no tokenizer was read).
absl::StatusOr<std::vector<data::TokenizedSample>> BuildSamples(
    const std::vector<ParsedRecord>& records, const data::SampleBuilder* builder,
    const data::SampleOptions& options, TrainingData& counts) {
  std::vector<data::TokenizedSample> samples;
  samples.reserve(records.size());
  for (const ParsedRecord& r : records) {
    ZT_ASSIGN_OR_RETURN(data::TokenizedSample sample,
                        builder != nullptr
                            ? builder->Build(r.record, r.where)
                            : data::BuildTokenizedSample(r.record, options.vocab_size,
                                                         options.model_max_length, r.where));
    counts.truncated += sample.truncated;
    counts.without_labels += std::none_of(sample.labels.begin(), sample.labels.end(),
                                          [](int32_t l) { return l != data::kIgnoreIndex; });
    samples.push_back(std::move(sample));
  }
  return samples;
}

bool AllTokenized(const std::vector<ParsedRecord>& records) {
  return std::all_of(records.begin(), records.end(), [](const ParsedRecord& r) {
    return r.record.format == data::DatasetFormat::kTokenized;
  });
}

// The model's config.json where the folder has one (tests load data from tokenizer-only folders).
absl::StatusOr<std::optional<configs::ModelConfig>> OptionalModelConfig(const std::string& dir) {
  if (!std::filesystem::exists(std::filesystem::path(dir) / "config.json")) return std::nullopt;
  ZT_ASSIGN_OR_RETURN(configs::ModelConfig config, configs::LoadModelConfig(dir));
  return std::optional<configs::ModelConfig>(std::move(config));
}

// Without a tokenizer the pad id comes from config.json: pad_token_id, else the (first)
// eos_token_id, else 0. Which id pads does not change any loss: padding sits right of every
// real token (causal attention never looks right), attention_mask 0, labels ignored.
int32_t ConfigPadId(const std::optional<configs::ModelConfig>& config) {
  if (!config.has_value()) return 0;
  if (config->pad_token_id.has_value()) return static_cast<int32_t>(*config->pad_token_id);
  if (!config->eos_token_ids.empty()) return static_cast<int32_t>(config->eos_token_ids.front());
  return 0;
}

}  // namespace

absl::StatusOr<TrainingData> LoadTrainingData(const configs::TrainingArguments& args,
                                              const std::string& tokenizer_dir) {
  const uint64_t seed = static_cast<uint64_t>(args.seed);
  ZT_ASSIGN_OR_RETURN(std::vector<ParsedRecord> train,
                      ReadRecords("--data_path", args.data_path, seed));
  std::vector<ParsedRecord> eval;
  if (!args.eval_data_path.empty()) {
    ZT_ASSIGN_OR_RETURN(eval, ReadRecords("--eval_data_path", args.eval_data_path, seed));
  }
  ZT_ASSIGN_OR_RETURN(std::optional<configs::ModelConfig> model_config,
                      OptionalModelConfig(tokenizer_dir));
  TrainingData out;
  data::SampleOptions options;
  options.model_max_length = args.model_max_length;
  options.vocab_size = model_config.has_value() ? model_config->vocab_size : 0;
  if (options.model_max_length <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--model_max_length ", options.model_max_length, ": expected > 0"));
  }
  std::unique_ptr<data::Tokenizer> tokenizer;
  std::optional<data::SampleBuilder> builder;
  if (AllTokenized(train) && AllTokenized(eval)) {
    out.pad_id = ConfigPadId(model_config);
  } else {
    ZT_ASSIGN_OR_RETURN(tokenizer, data::Tokenizer::FromDirectory(tokenizer_dir));
    ZT_ASSIGN_OR_RETURN(out.chat, data::LoadChatConfig(tokenizer_dir, args.template_name));
    ZT_ASSIGN_OR_RETURN(options.loss_mask, data::ParseLossMaskPolicy(args.loss_mask));
    options.template_kind = out.chat.kind;
    if (!args.system.empty()) options.system = args.system;
    options.bos_token = out.chat.bos_token;
    options.eos_token = out.chat.eos_token;
    ZT_ASSIGN_OR_RETURN(data::SampleBuilder built,
                        data::SampleBuilder::Create(tokenizer.get(), options));
    builder.emplace(std::move(built));
    const std::string pad = out.chat.pad_token.empty() ? out.chat.eos_token : out.chat.pad_token;
    out.pad_id = tokenizer->TokenToId(pad);
    if (out.pad_id < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          tokenizer_dir, "/tokenizer_config.json: pad token '", pad, "' is not in the vocabulary"));
    }
  }
  const data::SampleBuilder* b = builder.has_value() ? &*builder : nullptr;
  ZT_ASSIGN_OR_RETURN(out.train, BuildSamples(train, b, options, out));
  ZT_ASSIGN_OR_RETURN(out.eval, BuildSamples(eval, b, options, out));
  return out;
}

Batch CollateBatch(const std::vector<data::TokenizedSample>& samples,
                   const std::vector<int64_t>& indices, int32_t pad_id, bool pin) {
  int64_t longest = 1;
  for (int64_t i : indices) longest = std::max<int64_t>(longest, samples[i].input_ids.size());
  const int64_t rows = static_cast<int64_t>(indices.size());
  Batch batch;
  batch.input_ids = common::EmptyHostBuffer({rows, longest}, at::kLong, pin).fill_(pad_id);
  batch.attention_mask = common::EmptyHostBuffer({rows, longest}, at::kLong, pin).zero_();
  batch.labels = common::EmptyHostBuffer({rows, longest}, at::kLong, pin).fill_(data::kIgnoreIndex);
  int64_t* ids = batch.input_ids.data_ptr<int64_t>();
  int64_t* mask = batch.attention_mask.data_ptr<int64_t>();
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  for (int64_t row = 0; row < rows; ++row) {
    const data::TokenizedSample& s = samples[indices[row]];
    for (size_t t = 0; t < s.input_ids.size(); ++t) {
      ids[row * longest + t] = s.input_ids[t];
      mask[row * longest + t] = 1;
      labels[row * longest + t] = s.labels[t];
      batch.target_tokens += t > 0 && s.labels[t] != data::kIgnoreIndex;
    }
    batch.tokens += static_cast<int64_t>(s.input_ids.size());
  }
  return batch;
}

Batch BatchToDevice(const Batch& batch, const at::Device& device) {
  if (device.is_cpu()) return batch;
  Batch out = batch;
  for (at::Tensor* t : {&out.input_ids, &out.attention_mask, &out.labels}) {
    *t = t->to(device, /*non_blocking=*/true);
  }
  return out;
}

namespace {

// HF upcasts 16-bit logits to fp32 for the loss; fp64 stays fp64 (the equivalence tests).
at::Tensor LossDtype(const at::Tensor& logits) {
  return logits.scalar_type() == at::kDouble ? logits : logits.to(at::kFloat);
}

}  // namespace

at::Tensor SummedCausalLmLoss(const at::Tensor& logits, const at::Tensor& labels) {
  const int64_t vocab = logits.size(-1);
  const at::Tensor shifted_logits =
      LossDtype(logits.narrow(1, 0, logits.size(1) - 1).reshape({-1, vocab}));
  const at::Tensor targets = labels.narrow(1, 1, labels.size(1) - 1).reshape({-1});
  return at::cross_entropy_loss(shifted_logits, targets, /*weight=*/{}, at::Reduction::Sum,
                                data::kIgnoreIndex);
}

at::Tensor SummedCausalLmLossOnTargets(const at::Tensor& hidden, const at::Tensor& lm_head,
                                       const at::Tensor& labels) {
  const int64_t width = hidden.size(-1);
  const at::Tensor targets = labels.narrow(1, 1, labels.size(1) - 1).reshape({-1});
  const at::Tensor trained = targets.ne(data::kIgnoreIndex).nonzero().squeeze(1);
  const at::Tensor rows =
      hidden.narrow(1, 0, hidden.size(1) - 1).reshape({-1, width}).index_select(0, trained);
  return ChunkedLinearCrossEntropySum(rows, lm_head, targets.index_select(0, trained));
}

}  // namespace zt::worker::train
