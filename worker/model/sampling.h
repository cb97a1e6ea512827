// Next-token selection as HF transformers' generate() does it: the LogitsProcessorList that
// GenerationMixin._get_logits_processor builds (RepetitionPenaltyLogitsProcessor always when the
// penalty is not 1; with do_sample, then TemperatureLogitsWarper, TopKLogitsWarper,
// TopPLogitsWarper with min_tokens_to_keep = 1, in that order), then argmax (greedy) or one
// multinomial draw from softmax of the processed scores (sampling). Scores are fp32, as HF casts
// the last position's logits to fp32 before processing. Each processor is the same tensor
// arithmetic as HF's class, so results agree bit for bit on CPU
// (tests/golden/generation_goldens.py).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace zt::worker::model {

// HF GenerationConfig names and global defaults (GenerationConfig._get_default_generation_params).
struct SamplingOptions {
  bool do_sample = false;
  double temperature = 1.0;         // used when do_sample; 1.0 adds no warper
  int64_t top_k = 50;               // used when do_sample; 0 adds no warper
  double top_p = 1.0;               // used when do_sample; 1.0 adds no warper
  double repetition_penalty = 1.0;  // greedy and sampling; 1.0 adds no processor
};

// HF's ValueErrors as InvalidArgument naming the flag: temperature must be > 0 (when sampling),
// top_k >= 0, top_p in [0, 1], repetition_penalty > 0.
absl::Status ValidateSamplingOptions(const SamplingOptions& options);

// The HF class names of the processors `options` applies, in order
// (e.g. {"RepetitionPenaltyLogitsProcessor", "TemperatureLogitsWarper"}).
std::vector<std::string> ProcessorNames(const SamplingOptions& options);

// The processors, each on fp32 `scores` [B, V] with `history` int64 [B, T] (prompt + generated
// ids). They return new tensors; filtered scores become -inf.
at::Tensor ApplyRepetitionPenalty(const at::Tensor& history, const at::Tensor& scores,
                                  double penalty);
at::Tensor ApplyTemperature(const at::Tensor& scores, double temperature);
at::Tensor ApplyTopK(const at::Tensor& scores, int64_t top_k, int64_t min_tokens_to_keep = 1);
at::Tensor ApplyTopP(const at::Tensor& scores, double top_p, int64_t min_tokens_to_keep = 1);
// All processors of `options` in HF's order.
at::Tensor ProcessScores(const SamplingOptions& options, const at::Tensor& history,
                         const at::Tensor& scores);

// Picks next tokens. Sampling draws from a CPU generator seeded once, so a seed reproduces the
// sequence of draws (not HF's, whose torch version and RNG stream differ).
class TokenSampler {
 public:
  // `seed` nullopt: seeded from std::random_device.
  TokenSampler(SamplingOptions options, std::optional<uint64_t> seed);

  // `history` int64 [T] or [1, T] on any device; `logits` [V] or [1, V] in any dtype. The next
  // id (processing runs in fp32 on the CPU).
  int64_t Next(const at::Tensor& history, const at::Tensor& logits);

  const SamplingOptions& options() const { return options_; }

 private:
  SamplingOptions options_;
  at::Generator generator_;
};

}  // namespace zt::worker::model
