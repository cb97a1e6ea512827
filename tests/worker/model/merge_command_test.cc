// `merge` against PEFT's merge_and_unload (tests/golden/merge_goldens.py): a 16-bit base and a
// pre-quantized bitsandbytes 4-bit base (dequantize, merge, write 16-bit), every tensor
// byte-equal; the config.json transformers writes for the dequantized model; the errors.
#include "worker/model/merge_command.h"

#include <cstdlib>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"
#include "worker/io/hf_export.h"
#include "worker/io/safetensors_file.h"
#include "worker/io/sharded_safetensors.h"

namespace zt::worker::model {
namespace {

using ::testing::HasSubstr;

std::string Data(const std::string& path) {
  const char* root = std::getenv("ZT_TEST_DATA");
  return std::string(root ? root : "tests/data") + "/" + path;
}

std::shared_ptr<io::SafetensorsFile> Goldens() {
  auto file = io::SafetensorsFile::Open(Data("merge_goldens/merged.safetensors"));
  EXPECT_TRUE(file.ok()) << file.status();
  return *file;
}

// Every "<prefix><name>" golden equals the merged folder's <name> bit for bit (dtype included),
// and the folder has no other tensor.
void ExpectFolderEqualsGoldens(const std::string& folder, const std::string& prefix) {
  auto merged = io::ShardedSafetensors::Open(folder);
  ASSERT_TRUE(merged.ok()) << merged.status();
  auto goldens = Goldens();
  size_t compared = 0;
  for (const std::string& key : goldens->Names()) {
    if (key.rfind(prefix, 0) != 0) continue;
    const std::string name = key.substr(prefix.size());
    auto got = merged->Get(name);
    ASSERT_TRUE(got.ok()) << got.status();
    const at::Tensor want = *goldens->Get(key);
    EXPECT_EQ(got->scalar_type(), want.scalar_type()) << name;
    EXPECT_TRUE(at::equal(*got, want))
        << name << ": max |diff| "
        << (got->to(at::kFloat) - want.to(at::kFloat)).abs().max().item<float>();
    ++compared;
  }
  EXPECT_EQ(compared, merged->Names().size());
  EXPECT_GT(compared, 0u);
}

MergeRequest Request(const std::string& base, const std::string& out) {
  MergeRequest request;
  request.base = Data("qlora_trainer_goldens/" + base);
  request.adapter = Data("qlora_trainer_goldens/adapter_init");
  request.output = out;
  return request;
}

TEST(MergeCommandTest, SixteenBitBaseEqualsPeftMergeAndUnload) {
  ::zt::testing::TempDir dir;
  auto line = RunMerge(Request("model_bf16", dir.Join("merged")));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_THAT(*line, HasSubstr("merged 14 adapted linears"));
  ExpectFolderEqualsGoldens(dir.Join("merged"), "bf16.");
}

TEST(MergeCommandTest, PrequantizedBaseEqualsDequantizeThenPeftMerge) {
  ::zt::testing::TempDir dir;
  auto line = RunMerge(Request("model_bnb4bit", dir.Join("merged")));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_THAT(*line, HasSubstr("merged 14 adapted linears"));
  EXPECT_THAT(*line, HasSubstr("14 4-bit linears dequantized"));
  ExpectFolderEqualsGoldens(dir.Join("merged"), "bnb4.");
  // PEFT's own Linear4bit.merge (before it re-quantizes) rounds to the same bf16 weights.
  auto merged = io::ShardedSafetensors::Open(dir.Join("merged"));
  ASSERT_TRUE(merged.ok());
  auto goldens = Goldens();
  for (const std::string& key : goldens->Names()) {
    if (key.rfind("peft4bit.", 0) != 0) continue;
    const at::Tensor w_data = *goldens->Get(key);
    EXPECT_TRUE(at::equal(*merged->Get(key.substr(9)), w_data.to(at::kBFloat16))) << key;
  }
  // What transformers' save_pretrained writes after dequantize(): no quantization_config.
  auto config = io::ReadConfigJson(dir.Join("merged"));
  ASSERT_TRUE(config.ok()) << config.status();
  std::ifstream golden_file(Data("merge_goldens/config.json"));
  const nlohmann::json golden = nlohmann::json::parse(golden_file);
  EXPECT_FALSE(config->contains("quantization_config"));
  EXPECT_EQ((*config)["dtype"], golden["dtype"]);
  EXPECT_EQ((*config)["hidden_size"], golden["hidden_size"]);
}

TEST(MergeCommandTest, AdapterOfAnotherBaseNamesTheFileAndShapes) {
  ::zt::testing::TempDir dir;
  const std::string adapter = dir.Join("adapter");
  ASSERT_EQ(std::system(("mkdir -p " + adapter + " && cp " +
                         Data("qlora_trainer_goldens/adapter_init/adapter_config.json") + " " +
                         adapter + "/")
                            .c_str()),
            0);
  // lora_A for a 128-wide q_proj: the base's hidden size is 64.
  ASSERT_TRUE(
      io::WriteSafetensors(
          adapter + "/adapter_model.safetensors",
          {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", at::zeros({4, 128})},
           {"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", at::zeros({64, 4})}})
          .ok());
  MergeRequest request = Request("model_bnb4bit", dir.Join("merged"));
  request.adapter = adapter;
  auto line = RunMerge(request);
  ASSERT_FALSE(line.ok());
  EXPECT_EQ(line.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(line.status().message(),
              HasSubstr("on --base " + Data("qlora_trainer_goldens/model_bnb4bit")));
  EXPECT_THAT(line.status().message(), HasSubstr(adapter + "/adapter_model.safetensors"));
  EXPECT_THAT(line.status().message(), HasSubstr("q_proj.lora_A.weight"));
  EXPECT_THAT(line.status().message(), HasSubstr("128"));
}

TEST(MergeCommandTest, EightBitBaseIsRefusedNamingTheFolder) {
  ::zt::testing::TempDir dir;
  const std::string base = dir.Join("base8");
  std::ifstream in(Data("qlora_trainer_goldens/model_bnb4bit/config.json"));
  nlohmann::json config = nlohmann::json::parse(in);
  config["quantization_config"]["load_in_4bit"] = false;
  config["quantization_config"]["_load_in_4bit"] = false;
  config["quantization_config"]["load_in_8bit"] = true;
  config["quantization_config"]["_load_in_8bit"] = true;
  ASSERT_EQ(std::system(("mkdir -p " + base).c_str()), 0);
  std::ofstream(base + "/config.json") << config.dump();
  MergeRequest request = Request("model_bnb4bit", dir.Join("merged"));
  request.base = base;
  auto line = RunMerge(request);
  ASSERT_FALSE(line.ok());
  EXPECT_EQ(line.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(line.status().message(), HasSubstr("--base " + base));
  EXPECT_THAT(line.status().message(), HasSubstr("8-bit"));
}

}  // namespace
}  // namespace zt::worker::model
