// Peak memory of the training loss with Qwen's 151,936-token vocabulary: forward and backward
// through the tiny decoder and SummedCausalLmLossOnTargets for 4 × 2048 trained tokens must
// grow the process's peak RSS by less than one fp32 logits tensor of those tokens (4.98 GB).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "worker/model/decoder.h"
#include "worker/model/lora_model.h"
#include "worker/train/training_data.h"

namespace zt::worker::train {
namespace {

// A "Vm...:  123 kB" line of /proc/self/status in bytes; -1 when absent.
int64_t ProcStatusBytes(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1)) * 1024;
  }
  return -1;
}

// Resets VmHWM to the current RSS (Linux 4.0+). Where it cannot, VmHWM keeps an earlier peak
// and the growth measured below only overstates the loss's.
void ResetPeakRss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
}

TEST(ChunkedLmLossMemoryTest, PeakRssOfQwenVocabularyLossStaysBelowOneLogitsTensor) {
  if (ProcStatusBytes("VmHWM") < 0) GTEST_SKIP() << "no /proc/self/status VmHWM";
  model::DecoderConfig config;
  config.vocab_size = 151936;
  config.hidden_size = 16;
  config.intermediate_size = 32;
  config.num_layers = 1;
  config.num_heads = 2;
  config.num_kv_heads = 1;
  config.head_dim = 8;
  config.qkv_bias = true;
  absl::StatusOr<model::Decoder> decoder = model::Decoder::RandomInit(config, 3, at::kFloat);
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  model::SetTrainable(*decoder, /*train_base=*/true);
  constexpr int64_t kBatch = 4, kTargets = 2048;
  at::manual_seed(1);
  // Every label trained: position t predicts t + 1, so 2049 tokens give 2048 targets a row.
  const at::Tensor ids = at::randint(0, config.vocab_size, {kBatch, kTargets + 1}, at::kLong);
  const at::Tensor mask = at::ones_like(ids);
  const int64_t logits_bytes = kBatch * kTargets * config.vocab_size * 4;

  ResetPeakRss();
  const int64_t before = ProcStatusBytes("VmRSS");
  at::Tensor loss = decoder->ApplyHead(decoder->Hidden(ids, mask), {},
                                       [&ids](const at::Tensor& h, const at::Tensor& lm_head) {
                                         return SummedCausalLmLossOnTargets(h, lm_head, ids);
                                       });
  loss.backward();
  const int64_t growth = ProcStatusBytes("VmHWM") - before;

  std::printf("peak RSS growth %.3f GB (one fp32 logits tensor: %.3f GB)\n", growth / 1e9,
              logits_bytes / 1e9);
  RecordProperty("peak_rss_growth_bytes", std::to_string(growth));
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  ASSERT_TRUE(decoder->lm_head().grad().defined());
  EXPECT_TRUE(decoder->lm_head().grad().isfinite().all().item<bool>());
  EXPECT_LT(growth, logits_bytes);
}

}  // namespace
}  // namespace zt::worker::train
