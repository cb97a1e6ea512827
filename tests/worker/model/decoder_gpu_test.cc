// GPU label: the decoder on a CUDA device against the HF goldens (bf16 and fp16 within 2e-2 of
// the fp32 reference, fp32 within 1e-5), and checkpointing bitwise with dropout through the CUDA
// generator.
#include "common/torch_compat.h"
#include "gtest/gtest.h"
#include "tests/worker/model/golden_models.h"
#include "worker/model/lora_model.h"
#include "worker/model/model_folder.h"

namespace zt::worker::model {
namespace {

using testing::GoldenCases;
using testing::GoldenDir;
using testing::GoldenTensors;
using testing::RelativeError;

const at::Device kCuda(at::kCUDA, 0);

TEST(DecoderGpuTest, LogitsMatchTransformersInEveryDtype) {
  ASSERT_TRUE(common::CudaAvailable()) << "the gpu label needs a CUDA device";
  for (const testing::GoldenCase& c : GoldenCases()) {
    auto golden = GoldenTensors(c.name);
    const at::Tensor ids = golden->Get("input_ids")->to(kCuda);
    const at::Tensor mask = golden->Get("attention_mask")->to(kCuda);
    for (at::ScalarType dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
      auto decoder = LoadModelFolder(GoldenDir(c.name), dtype);
      ASSERT_TRUE(decoder.ok()) << decoder.status();
      decoder->To(kCuda);
      const at::Tensor logits = decoder->Logits(ids, mask);
      EXPECT_LE(RelativeError(logits.cpu(), *golden->Get("logits")), dtype == at::kFloat ? 1e-5 : 2e-2)
          << c.name << " " << c10::toString(dtype);
    }
  }
}

TEST(DecoderGpuTest, CheckpointingIsBitwiseWithDropoutOnCuda) {
  ASSERT_TRUE(common::CudaAvailable()) << "the gpu label needs a CUDA device";
  std::vector<at::Tensor> grads[2];
  for (int checkpointing = 0; checkpointing < 2; ++checkpointing) {
    auto decoder = LoadModelFolder(GoldenDir("qwen2"), at::kBFloat16);
    ASSERT_TRUE(decoder.ok());
    LoraOptions options;
    options.r = 4;
    options.lora_dropout = 0.1;
    options.init_b_zero = false;
    options.target_modules = *configs::ParseLoraTargetModules("all-linear");
    ASSERT_TRUE(ApplyLora(*decoder, options, 2).ok());
    decoder->To(kCuda);
    SetTrainable(*decoder, false);
    const at::Tensor ids = GoldenTensors("qwen2")->Get("input_ids")->to(kCuda);
    at::manual_seed(77);
    CausalLmLoss(decoder->Logits(ids, {}, {true, checkpointing == 1}), ids).backward();
    for (auto& [name, t] : decoder->NamedTensors()) {
      if (t->requires_grad()) grads[checkpointing].push_back(t->grad().cpu());
    }
  }
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i) EXPECT_TRUE(at::equal(grads[0][i], grads[1][i])) << i;
}

}  // namespace
}  // namespace zt::worker::model
