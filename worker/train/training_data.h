// The training and evaluation samples of a job and the batches the loop feeds the model.
//
// Samples: --data_path / --eval_data_path read with worker/data (dataset mixing, record
// formats, chat template rendering, loss masks, truncation to --model_max_length), tokenized
// once at start-up on every rank (deterministic, so ranks agree without exchanging data).
// Pre-tokenized records ({"input_ids", "labels"}: worker/data/dataset_record.h) need no
// tokenizer: when every record of both datasets is one, no tokenizer file is read, and the pad
// id is config.json's pad_token_id, else its eos_token_id, else 0. Their ids are checked against
// config.json's vocab_size where the folder has one.
// Batches: right-padded to the longest sample of the batch with the pad token (the EOS token
// when the tokenizer has none), attention mask 0 on padding, labels kIgnoreIndex there.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "configs/training_arguments.h"
#include "worker/data/chat_template.h"
#include "worker/data/sample_builder.h"
#include "worker/data/tokenizer.h"

namespace zt::worker::train {

struct TrainingData {
  std::vector<data::TokenizedSample> train;
  std::vector<data::TokenizedSample> eval;  // empty without --eval_data_path
  data::TokenizerChatConfig chat;           // default when no tokenizer was read
  int32_t pad_id = 0;
  int64_t truncated = 0;       // samples cut to model_max_length
  int64_t without_labels = 0;  // samples with no trained token (kept: they still count)
};

// Reads both datasets and, unless every record is pre-tokenized, the tokenizer of
// `tokenizer_dir` (the model folder; its config.json, when present, bounds the token ids). Errors
// name the flag and the file or record (InvalidArgument / NotFound from worker/data).
absl::StatusOr<TrainingData> LoadTrainingData(const configs::TrainingArguments& args,
                                              const std::string& tokenizer_dir);

struct Batch {
  at::Tensor input_ids;       // int64 [B, S]
  at::Tensor attention_mask;  // int64 [B, S], 1 = token
  at::Tensor labels;          // int64 [B, S], kIgnoreIndex where not trained
  int64_t target_tokens = 0;  // labels[:, 1:] != kIgnoreIndex: the tokens the loss counts
  int64_t tokens = 0;         // non-padding tokens
};

// The samples `indices` of `samples` as one batch on the host; in pinned memory with `pin`
// (and CUDA present), so BatchToDevice's copies can run asynchronously.
Batch CollateBatch(const std::vector<data::TokenizedSample>& samples,
                   const std::vector<int64_t>& indices, int32_t pad_id, bool pin = false);

// `batch` on `device`: enqueued non_blocking on the current stream (the compute that reads the
// tensors is ordered after the copies; the host buffers stay referenced by the tensors' copy
// until it completes, as the caching allocator records). The batch itself on the CPU.
Batch BatchToDevice(const Batch& batch, const at::Device& device);

// Summed (not averaged) HF causal-LM loss: position t predicts labels[t + 1], kIgnoreIndex
// ignored, 16-bit logits upcast to fp32 (fp64 kept). A scalar.
at::Tensor SummedCausalLmLoss(const at::Tensor& logits, const at::Tensor& labels);

// The same sum from the final hidden states [B, S, h] and the lm_head weight [V, h], computing
// logits only at the positions whose next label is trained: the loss and its gradients are
// those of SummedCausalLmLoss(linear(hidden, lm_head), labels), without the [B, S, V] logits
// of untrained positions (prompts, padding), which dominate small models' step time, and
// without the fp32 logits of all trained positions at once (chunked: chunked_lm_loss.h).
at::Tensor SummedCausalLmLossOnTargets(const at::Tensor& hidden, const at::Tensor& lm_head,
                                       const at::Tensor& labels);

}  // namespace zt::worker::train
