// The trainable model with --adapter_name_or_path: a PEFT-saved adapter (tests/data/models/
// qwen2/adapter, random non-zero A and B) becomes the trainable parameters with exactly its
// values; adapter_config.json sets the LoRA options, and an explicit flag contradicting it, a
// missing folder or file, or a tensor set that does not fit is an error naming both sides.
#include "worker/train/trainable_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"

namespace zt::worker::train {
namespace {

using ::testing::HasSubstr;

std::string Qwen2() { return zt::testing::TestDataPath("models/qwen2"); }
std::string Qwen2Adapter() { return Qwen2() + "/adapter"; }

using Flags = std::vector<std::pair<std::string, std::string>>;

configs::TrainingArguments AdapterArgs(const std::string& adapter, const Flags& flags) {
  configs::TrainingArguments args;
  EXPECT_TRUE(configs::SetArgument(args, "model_name_or_path", Qwen2()).ok());
  EXPECT_TRUE(configs::SetArgument(args, "adapter_name_or_path", adapter).ok());
  for (const auto& [name, value] : flags) {
    EXPECT_TRUE(configs::SetArgument(args, name, value).ok()) << name;
  }
  return args;
}

TEST(TrainableModelAdapterTest, PeftAdapterBecomesTheTrainableParametersExactly) {
  absl::StatusOr<TrainableModel> model = LoadTrainableModel(AdapterArgs(Qwen2Adapter(), {}));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE(model->use_lora);
  EXPECT_EQ(model->lora.r, 4);
  EXPECT_EQ(model->lora.lora_alpha, 16);
  EXPECT_EQ(model->lora.lora_dropout, 0.0);
  absl::StatusOr<io::PeftAdapter> file = io::ReadPeftAdapter(Qwen2Adapter());
  ASSERT_TRUE(file.ok()) << file.status();
  std::map<std::string, at::Tensor> trainable;
  for (auto& [name, tensor] : model->decoder->NamedTensors()) {
    if (tensor->requires_grad()) trainable[model::PeftTensorName(name)] = *tensor;
  }
  ASSERT_EQ(trainable.size(), file->tensors->Names().size());
  double b_norm = 0;
  for (const std::string& name : file->tensors->Names()) {
    ASSERT_EQ(trainable.count(name), 1u) << name;
    const at::Tensor expected = *file->tensors->Get(name);
    EXPECT_TRUE(at::equal(trainable[name], expected)) << name;
    if (name.find("lora_B") != std::string::npos) b_norm += expected.norm().item<double>();
  }
  EXPECT_GT(b_norm, 0) << "the fixture's B must be non-zero for this test to mean anything";
  int64_t in_groups = 0;
  for (const sharding::ParameterGroup& group : model->groups) {
    in_groups += static_cast<int64_t>(group.params.size());
  }
  EXPECT_EQ(in_groups, static_cast<int64_t>(trainable.size()));
  // What the trainer saves is the adapter's config again (init_lora_weights false kept).
  const io::PeftLoraConfig saved =
      model::PeftConfigFor(*model->decoder, model->lora, Qwen2());
  EXPECT_EQ(saved.target_modules, file->config.target_modules);
  EXPECT_EQ(saved.init_lora_weights, file->config.init_lora_weights);
}

TEST(TrainableModelAdapterTest, FlagsThatAgreeWithTheAdapterAreAccepted) {
  absl::StatusOr<TrainableModel> model = LoadTrainableModel(AdapterArgs(
      Qwen2Adapter(), {{"lora_r", "4"}, {"lora_alpha", "16"}, {"lora_dropout", "0"},
                       {"lora_target_modules", "all-linear"}, {"lora_bias", "none"},
                       {"use_lora", "true"}}));
  EXPECT_TRUE(model.ok()) << model.status();
}

struct ContradictionCase {
  std::string flag, value, message;
};

class AdapterContradictionTest : public ::testing::TestWithParam<ContradictionCase> {};

TEST_P(AdapterContradictionTest, NamesTheFlagAndTheKeyWithTheirValues) {
  const ContradictionCase& c = GetParam();
  absl::StatusOr<TrainableModel> model =
      LoadTrainableModel(AdapterArgs(Qwen2Adapter(), {{c.flag, c.value}}));
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(model.status().message()),
              HasSubstr("--" + c.flag + " " + c.value + " contradicts " + Qwen2Adapter() +
                        "/adapter_config.json: " + c.message));
}

INSTANTIATE_TEST_SUITE_P(
    Flags, AdapterContradictionTest,
    ::testing::Values(ContradictionCase{"lora_r", "8", "r = 4"},
                      ContradictionCase{"lora_alpha", "32", "lora_alpha = 16"},
                      ContradictionCase{"lora_dropout", "0.05", "lora_dropout = 0"},
                      ContradictionCase{"lora_bias", "all", "bias = \"none\""},
                      ContradictionCase{"lora_target_modules", "q_proj,v_proj",
                                        "target_modules = [\"model.layers.0.mlp.down_proj\""}),
    [](const ::testing::TestParamInfo<ContradictionCase>& info) { return info.param.flag; });

TEST(TrainableModelAdapterTest, TargetContradictionNamesAModuleOnlyOneSelects) {
  absl::StatusOr<TrainableModel> model = LoadTrainableModel(
      AdapterArgs(Qwen2Adapter(), {{"lora_target_modules", "q_proj,v_proj"}}));
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()),
              HasSubstr("(module model.layers.0.self_attn.k_proj is adapted by the adapter, not "
                        "the flag; drop --lora_target_modules"));
}

TEST(TrainableModelAdapterTest, MissingFolderOrFilesAreNamed) {
  zt::testing::TempDir dir;
  const std::string none = dir.Join("none");
  absl::StatusOr<TrainableModel> model = LoadTrainableModel(AdapterArgs(none, {}));
  EXPECT_EQ(model.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(model.status().message()),
              HasSubstr("--adapter_name_or_path " + none + ": no such folder"));

  model = LoadTrainableModel(AdapterArgs(dir.path(), {}));
  EXPECT_EQ(model.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(model.status().message()),
              HasSubstr("--adapter_name_or_path " + dir.path() + ": cannot read " +
                        dir.Join("adapter_config.json")));

  std::ifstream config(Qwen2Adapter() + "/adapter_config.json");
  std::ofstream(dir.Join("adapter_config.json")) << config.rdbuf();
  model = LoadTrainableModel(AdapterArgs(dir.path(), {}));
  EXPECT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()),
              HasSubstr(dir.Join("adapter_model.safetensors")));
}

TEST(TrainableModelAdapterTest, UnsupportedConfigAndWrongShapesAreNamed) {
  absl::StatusOr<io::PeftAdapter> peft = io::ReadPeftAdapter(Qwen2Adapter());
  ASSERT_TRUE(peft.ok()) << peft.status();
  io::NamedTensors tensors;
  for (const std::string& name : peft->tensors->Names()) {
    tensors.emplace_back(name, *peft->tensors->Get(name));
  }
  // modules_to_save: PEFT would train and save whole modules, which this trainer does not.
  zt::testing::TempDir dir;
  ASSERT_TRUE(io::WritePeftAdapter(dir.path(), peft->config, tensors).ok());
  {
    std::ifstream in(dir.Join("adapter_config.json"));
    nlohmann::json json = nlohmann::json::parse(in);
    json["modules_to_save"] = {"lm_head"};
    std::ofstream(dir.Join("adapter_config.json")) << json.dump(2);
  }
  absl::StatusOr<TrainableModel> model = LoadTrainableModel(AdapterArgs(dir.path(), {}));
  EXPECT_EQ(model.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(model.status().message()), HasSubstr("modules_to_save = [\"lm_head\"]"));

  // r = 8 in the config, tensors of r = 4: the first tensor is named with both shapes.
  io::PeftLoraConfig wider = peft->config;
  wider.r = 8;
  zt::testing::TempDir wrong;
  ASSERT_TRUE(io::WritePeftAdapter(wrong.path(), wider, tensors).ok());
  model = LoadTrainableModel(AdapterArgs(wrong.path(), {}));
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()),
              HasSubstr(wrong.Join("adapter_model.safetensors") + ": tensor \"base_model.model."));
  EXPECT_THAT(std::string(model.status().message()), HasSubstr("], expected [8, "));
}

}  // namespace
}  // namespace zt::worker::train
