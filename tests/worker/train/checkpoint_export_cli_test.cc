// `zerotune-worker export` end to end (the built binary): a LoRA checkpoint becomes a PEFT
// folder, a full fine-tuning checkpoint an HF folder; a corrupt checkpoint exits 1 with
// "zerotune-worker export: checkpoint file <path> is corrupt" on stderr.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "sharding/collectives/in_memory_store.h"
#include "sharding/collectives/self_communicator.h"
#include "tests/support/temp_dir.h"
#include "tests/worker/train/checkpoint_test_support.h"
#include "worker/io/peft_adapter.h"
#include "worker/io/sharded_safetensors.h"

namespace zt::worker::train {
namespace {

using ::testing::HasSubstr;

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

CliRun Worker(const std::string& args, const zt::testing::TempDir& dir) {
  const std::string err_path = dir.Join("stderr.txt");
  CliRun run;
  FILE* pipe = popen((std::string(ZT_WORKER_BINARY) + " " + args + " 2>" + err_path).c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ostringstream text;
  text << std::ifstream(err_path).rdbuf();
  run.err = text.str();
  return run;
}

TEST(CheckpointExportCliTest, ExportsLoraAndFullCheckpointsAndRefusesCorruptOnes) {
  zt::testing::TempDir dir;
  const testing::MlpSpec spec{6, 12, 4, 3, at::kFloat};
  testing::WriteBaseModel(dir.Join("base"), sharding::testing::MakeMlp(spec));
  auto comm = std::make_shared<sharding::SelfCommunicator>();
  Checkpointer ckpt(testing::Options(dir.Join("out"), dir.Join("base"), 0, 1),
                    std::make_shared<sharding::InMemoryStore>());
  testing::Run run = testing::MakeRun(spec, testing::DefaultTrain(), 1, 64, comm);
  testing::TrainSteps(run, spec, testing::DefaultTrain(), 0, 1, 0, 1);
  absl::StatusOr<std::string> full = ckpt.Save(*run.engine, testing::RequestFor(1, 0, 1, 4));
  ASSERT_TRUE(full.ok()) << full.status();
  SaveRequest lora_request = testing::RequestFor(2, 0, 1, 4);
  io::PeftLoraConfig config;
  config.r = 4;
  config.target_modules = {"q_proj"};
  lora_request.adapter_config = config;
  const std::string name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
  lora_request.adapter_tensors = {{name, at::randn({4, 8})}};
  absl::StatusOr<std::string> lora = ckpt.Save(*run.engine, lora_request);
  ASSERT_TRUE(lora.ok()) << lora.status();

  CliRun adapter = Worker("export --checkpoint " + *lora + " --out " + dir.Join("adapter"), dir);
  ASSERT_EQ(adapter.exit_code, 0) << adapter.err;
  EXPECT_THAT(adapter.out, HasSubstr("as a PEFT folder in " + dir.Join("adapter")));
  absl::StatusOr<io::PeftAdapter> exported = io::ReadPeftAdapter(dir.Join("adapter"));
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_TRUE(at::equal(*exported->tensors->Get(name), lora_request.adapter_tensors[0].second));

  CliRun hf = Worker("export --checkpoint " + *full + " --out " + dir.Join("hf"), dir);
  ASSERT_EQ(hf.exit_code, 0) << hf.err;
  absl::StatusOr<io::ShardedSafetensors> weights = io::ShardedSafetensors::Open(dir.Join("hf"));
  ASSERT_TRUE(weights.ok()) << weights.status();
  // Saved after one step; the engine has not moved since.
  for (const sharding::NamedParameter& p : run.params) {
    EXPECT_TRUE(at::equal(*weights->Get(p.name), p.tensor.detach())) << p.name;
  }

  const std::string state = *full + "/zero/rank_00000.safetensors";
  {
    std::fstream f(state, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-2, std::ios::end);
    f.put('\x55');
  }
  CliRun refused = Worker("export --checkpoint " + *full + " --out " + dir.Join("hf2"), dir);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("zerotune-worker export: checkpoint file " + state +
                                     " is corrupt"));
}

}  // namespace
}  // namespace zt::worker::train
