// Every checkpoint-<step>/ is also a PEFT adapter folder (what PeftModel.from_pretrained reads:
// adapter_config.json + adapter_model.safetensors), and `export` turns a checkpoint into the
// user's format: the adapter folder for LoRA, an HF model folder (the base's config and
// tensors, the trained ones replaced by the gathered masters) for full fine-tuning. A corrupt
// file or another base model is refused naming it.
#include "worker/train/export_command.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sharding/collectives/in_memory_store.h"
#include "sharding/collectives/self_communicator.h"
#include "tests/support/temp_dir.h"
#include "tests/worker/train/checkpoint_test_support.h"
#include "worker/io/peft_adapter.h"
#include "worker/io/sharded_safetensors.h"
#include "worker/train/checkpoint_files.h"

namespace zt::worker::train {
namespace {

namespace fs = std::filesystem;

class CheckpointExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteBaseModel(dir_.Join("base"), sharding::testing::MakeMlp(spec_));
  }

  // Two steps at stage 2 over two buckets, saved as checkpoint-2 (with an adapter when given).
  absl::StatusOr<std::string> TrainAndSave(testing::Run& run, const SaveRequest& request) {
    Checkpointer ckpt(testing::Options(dir_.Join("out"), dir_.Join("base"), 0, 1),
                      std::make_shared<sharding::InMemoryStore>());
    testing::TrainSteps(run, spec_, testing::DefaultTrain(), 0, 1, 0, 2);
    return ckpt.Save(*run.engine, request);
  }

  zt::testing::TempDir dir_;
  testing::MlpSpec spec_{6, 12, 4, 3, at::kFloat};
  std::shared_ptr<sharding::Communicator> comm_ = std::make_shared<sharding::SelfCommunicator>();
};

TEST_F(CheckpointExportTest, LoraCheckpointIsAPeftFolderAndExportsOne) {
  testing::Run run = testing::MakeRun(spec_, testing::DefaultTrain(), 2, 100, comm_);
  SaveRequest request = testing::RequestFor(2, 0, 1, 4);
  io::PeftLoraConfig config;
  config.r = 16;
  config.lora_alpha = 32;
  config.target_modules = {"q_proj", "v_proj"};
  config.base_model_name_or_path = "Qwen/Qwen2.5-0.5B";
  request.adapter_config = config;
  const std::string a = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
  const std::string b = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";
  request.adapter_tensors = {{a, at::randn({16, 32})}, {b, at::randn({32, 16})}};
  absl::StatusOr<std::string> saved = TrainAndSave(run, request);
  ASSERT_TRUE(saved.ok()) << saved.status();

  // The checkpoint folder itself reads as a PEFT adapter.
  absl::StatusOr<io::PeftAdapter> in_checkpoint = io::ReadPeftAdapter(*saved);
  ASSERT_TRUE(in_checkpoint.ok()) << in_checkpoint.status();
  EXPECT_EQ(io::PeftConfigJson(in_checkpoint->config), io::PeftConfigJson(config));
  EXPECT_TRUE(at::equal(*in_checkpoint->tensors->Get(a), request.adapter_tensors[0].second));
  absl::StatusOr<nlohmann::json> trainer_state =
      nlohmann::json::parse(*ReadWholeFile(*saved + "/trainer_state.json"));
  EXPECT_EQ((*trainer_state)["global_step"], 2);

  ExportRequest export_request{*saved, dir_.Join("adapter")};
  absl::StatusOr<std::string> line = RunExport(export_request);
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_NE(line->find("PEFT folder"), std::string::npos) << *line;
  absl::StatusOr<io::PeftAdapter> exported = io::ReadPeftAdapter(dir_.Join("adapter"));
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_EQ(io::PeftConfigJson(exported->config), io::PeftConfigJson(config));
  EXPECT_TRUE(at::equal(*exported->tensors->Get(b), request.adapter_tensors[1].second));

  // One flipped byte in the adapter: refused, naming the file.
  {
    std::fstream f(*saved + "/adapter_model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  absl::StatusOr<std::string> refused = RunExport(ExportRequest{*saved, dir_.Join("adapter2")});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss) << refused.status();
  EXPECT_NE(refused.status().message().find(*saved + "/adapter_model.safetensors is corrupt"),
            std::string::npos)
      << refused.status();
}

TEST_F(CheckpointExportTest, FullFineTuningExportsAnHfFolderWithTheTrainedWeights) {
  testing::Run run = testing::MakeRun(spec_, testing::DefaultTrain(), 2, 100, comm_);
  absl::StatusOr<std::string> saved = TrainAndSave(run, testing::RequestFor(2, 0, 1, 4));
  ASSERT_TRUE(saved.ok()) << saved.status();
  absl::StatusOr<CheckpointManifest> manifest = ReadManifest(*saved);
  ASSERT_TRUE(manifest.ok());
  EXPECT_EQ(manifest->kind, "full");
  EXPECT_FALSE(fs::exists(*saved + "/adapter_model.safetensors"));

  ExportRequest request{*saved, dir_.Join("hf")};
  absl::StatusOr<std::string> line = RunExport(request);
  ASSERT_TRUE(line.ok()) << line.status();
  absl::StatusOr<io::ShardedSafetensors> weights = io::ShardedSafetensors::Open(dir_.Join("hf"));
  ASSERT_TRUE(weights.ok()) << weights.status();
  ASSERT_EQ(weights->Names().size(), run.params.size());
  for (const sharding::NamedParameter& p : run.params) {
    absl::StatusOr<at::Tensor> t = weights->Get(p.name);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(at::equal(*t, p.tensor.detach())) << p.name;  // fp32 training: master == param
  }
  EXPECT_EQ(nlohmann::json::parse(*ReadWholeFile(dir_.Join("hf/config.json")))["model_type"], "mlp");
  // --dtype bf16 rounds the masters and says so in config.json.
  request.out = dir_.Join("hf-bf16");
  request.dtype = "bf16";
  ASSERT_TRUE(RunExport(request).ok());
  absl::StatusOr<io::ShardedSafetensors> bf16 = io::ShardedSafetensors::Open(request.out);
  EXPECT_EQ((*bf16->Get("layers.0.weight")).scalar_type(), at::kBFloat16);
  EXPECT_EQ(nlohmann::json::parse(*ReadWholeFile(request.out + "/config.json"))["torch_dtype"],
            "bfloat16");

  // Another base: refused with both fingerprints.
  const std::string other = dir_.Join("other");
  testing::WriteBaseModel(other, run.params, "mlp-other");
  request.base = other;
  request.out = dir_.Join("hf-other");
  absl::StatusOr<std::string> refused = RunExport(request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find(manifest->base_model_fingerprint), std::string::npos)
      << refused.status();
}

}  // namespace
}  // namespace zt::worker::train
