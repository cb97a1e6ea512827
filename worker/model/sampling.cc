#include "worker/model/sampling.h"

#include <ATen/CPUGeneratorImpl.h>

#include <limits>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"

namespace zt::worker::model {
namespace {

constexpr float kFilterValue = -std::numeric_limits<float>::infinity();

bool UsesTemperature(const SamplingOptions& o) { return o.do_sample && o.temperature != 1.0; }
bool UsesTopK(const SamplingOptions& o) { return o.do_sample && o.top_k != 0; }
bool UsesTopP(const SamplingOptions& o) { return o.do_sample && o.top_p < 1.0; }
bool UsesPenalty(const SamplingOptions& o) { return o.repetition_penalty != 1.0; }

uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace

absl::Status ValidateSamplingOptions(const SamplingOptions& options) {
  if (options.do_sample && !(options.temperature > 0.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--temperature ", options.temperature,
        ": expected a strictly positive number (for greedy decoding leave out --do_sample)"));
  }
  if (options.top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--top_k ", options.top_k, ": expected >= 0 (0 disables top-k)"));
  }
  if (!(options.top_p >= 0.0 && options.top_p <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--top_p ", options.top_p, ": expected a number in [0, 1]"));
  }
  if (!(options.repetition_penalty > 0.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--repetition_penalty ", options.repetition_penalty, ": expected > 0 (1.0 = no penalty)"));
  }
  return absl::OkStatus();
}

std::vector<std::string> ProcessorNames(const SamplingOptions& options) {
  std::vector<std::string> names;
  if (UsesPenalty(options)) names.push_back("RepetitionPenaltyLogitsProcessor");
  if (UsesTemperature(options)) names.push_back("TemperatureLogitsWarper");
  if (UsesTopK(options)) names.push_back("TopKLogitsWarper");
  if (UsesTopP(options)) names.push_back("TopPLogitsWarper");
  return names;
}

at::Tensor ApplyRepetitionPenalty(const at::Tensor& history, const at::Tensor& scores,
                                  double penalty) {
  // HF: ids beyond the scores' vocabulary map to an extra padded column that is dropped again.
  const int64_t vocab = scores.size(-1);
  const at::Tensor ids = history.clamp_max(vocab);
  const at::Tensor padded = at::constant_pad_nd(scores, {0, 1});
  at::Tensor score = padded.gather(1, ids);
  score = at::where(score < 0, score * penalty, score / penalty);
  return padded.scatter(1, ids, score).narrow(-1, 0, vocab);
}

at::Tensor ApplyTemperature(const at::Tensor& scores, double temperature) {
  return scores / temperature;
}

at::Tensor ApplyTopK(const at::Tensor& scores, int64_t top_k, int64_t min_tokens_to_keep) {
  const int64_t k = std::min(std::max(top_k, min_tokens_to_keep), scores.size(-1));
  const at::Tensor kth = std::get<0>(scores.topk(k)).narrow(-1, k - 1, 1);
  return scores.masked_fill(scores < kth, kFilterValue);
}

at::Tensor ApplyTopP(const at::Tensor& scores, double top_p, int64_t min_tokens_to_keep) {
  auto [sorted_logits, sorted_indices] = scores.sort(/*dim=*/-1, /*descending=*/false);
  const at::Tensor cumulative = sorted_logits.softmax(-1).cumsum(-1);
  // Ascending order: drop the low tail whose total mass is <= 1 - top_p; keep the best ones.
  at::Tensor remove = cumulative <= (1.0 - top_p);
  remove.narrow(-1, remove.size(-1) - min_tokens_to_keep, min_tokens_to_keep).fill_(false);
  const at::Tensor indices_to_remove = remove.scatter(1, sorted_indices, remove);
  return scores.masked_fill(indices_to_remove, kFilterValue);
}

at::Tensor ProcessScores(const SamplingOptions& options, const at::Tensor& history,
                         const at::Tensor& scores) {
  at::Tensor out = scores;
  if (UsesPenalty(options)) out = ApplyRepetitionPenalty(history, out, options.repetition_penalty);
  if (UsesTemperature(options)) out = ApplyTemperature(out, options.temperature);
  if (UsesTopK(options)) out = ApplyTopK(out, options.top_k);
  if (UsesTopP(options)) out = ApplyTopP(out, options.top_p);
  return out;
}

TokenSampler::TokenSampler(SamplingOptions options, std::optional<uint64_t> seed)
    : options_(std::move(options)),
      generator_(at::detail::createCPUGenerator(seed ? *seed : RandomSeed())) {}

int64_t TokenSampler::Next(const at::Tensor& history, const at::Tensor& logits) {
  const at::Tensor ids = history.to(at::kCPU, at::kLong).reshape({1, -1});
  const at::Tensor scores = logits.to(at::kCPU, at::kFloat).reshape({1, -1});
  const at::Tensor processed = ProcessScores(options_, ids, scores);
  if (!options_.do_sample) return processed.argmax(-1).item<int64_t>();
  const at::Tensor probs = processed.softmax(-1);
  return at::multinomial(probs, 1, /*replacement=*/false, generator_).item<int64_t>();
}

}  // namespace zt::worker::model
