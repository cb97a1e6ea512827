#include "tests/worker/model/golden_models.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace zt::worker::model::testing {

std::vector<GoldenCase> GoldenCases() {
  DecoderConfig base;
  base.vocab_size = 128;
  base.hidden_size = 32;
  base.intermediate_size = 64;
  base.num_layers = 2;
  base.num_heads = 4;
  base.num_kv_heads = 2;
  base.head_dim = 8;
  base.rms_norm_eps = 1e-6;
  DecoderConfig qwen2 = base;
  qwen2.arch = Architecture::kQwen2;
  qwen2.qkv_bias = true;
  qwen2.rope_theta = 10000.0;
  DecoderConfig tied = qwen2;
  tied.tie_word_embeddings = true;
  tied.rope_theta = 1e6;
  DecoderConfig qwen3 = base;
  qwen3.arch = Architecture::kQwen3;
  qwen3.head_dim = 16;
  qwen3.qk_norm = true;
  qwen3.rope_theta = 1e6;
  DecoderConfig llama = base;
  llama.arch = Architecture::kLlama;
  llama.rope_theta = 500000.0;
  return {{"qwen2", qwen2, true}, {"qwen2_tied", tied, false}, {"qwen3", qwen3, true},
          {"llama", llama, false}};
}

std::string GoldenDir(const std::string& name) {
  const char* root = std::getenv("ZT_TEST_DATA");
  return std::string(root ? root : "tests/data") + "/models/" + name;
}

std::shared_ptr<io::SafetensorsFile> GoldenTensors(const std::string& name) {
  auto file = io::SafetensorsFile::Open(GoldenDir(name) + "/golden.safetensors");
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? *file : nullptr;
}

double RelativeError(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor a64 = a.detach().to(at::kDouble), b64 = b.detach().to(at::kDouble);
  return (a64 - b64).norm().item<double>() / b64.norm().item<double>();
}

}  // namespace zt::worker::model::testing
