// End to end through the built zerotune-worker binary: `quantize` on tests/data/models/qwen2
// against the folders transformers + bitsandbytes save_pretrained wrote from the same base
// (tests/data/nf4/models, tests/golden/nf4_goldens.py): the same tensor names, dtypes, shapes
// and bytes, and config.json's quantization_config key for key; bad flags named.
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/command_run.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"
#include "worker/io/safetensors_file.h"

namespace zt::worker::model {
namespace {

using ::testing::HasSubstr;

::zt::testing::CommandRun Quantize(const std::string& args, const ::zt::testing::TempDir& dir) {
  return ::zt::testing::RunCommand(std::string(ZT_WORKER_BINARY) + " quantize " + args, dir.path());
}

nlohmann::json QuantizationConfig(const std::string& folder) {
  std::ifstream in(folder + "/config.json");
  return nlohmann::json::parse(in).at("quantization_config");
}

void ExpectSameTensors(const std::string& actual_dir, const std::string& expected_dir) {
  auto actual = io::SafetensorsFile::Open(actual_dir + "/model.safetensors");
  auto expected = io::SafetensorsFile::Open(expected_dir + "/model.safetensors");
  ASSERT_TRUE(actual.ok()) << actual.status();
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_EQ((*actual)->Names(), (*expected)->Names());
  const auto& a = (*actual)->header();
  const auto& b = (*expected)->header();
  for (const io::SafetensorsEntry& want : b.tensors) {
    SCOPED_TRACE(want.name);
    const int index = a.Find(want.name);
    ASSERT_GE(index, 0);
    const io::SafetensorsEntry& got = a.tensors[index];
    EXPECT_EQ(got.dtype, want.dtype);
    EXPECT_EQ(got.shape, want.shape);
    EXPECT_EQ((*actual)->mapping().bytes().substr(a.data_start + got.begin, got.byte_size()),
              (*expected)->mapping().bytes().substr(b.data_start + want.begin, want.byte_size()));
  }
}

TEST(QuantizeCliTest, WritesWhatTransformersSavePretrainedWrites) {
  ::zt::testing::TempDir dir;
  const std::string base = ::zt::testing::TestDataPath("models/qwen2");
  struct Case {
    std::string golden, flags;
  };
  for (const Case& c :
       {Case{"qwen2_nf4_dq_bf16", "--quant_type nf4 --double_quant --compute_dtype bf16"},
        Case{"qwen2_fp4_fp32", "--quant_type fp4"}}) {
    SCOPED_TRACE(c.golden);
    const std::string out = dir.Join(c.golden);
    auto run = Quantize("--model " + base + " --out " + out + " " + c.flags, dir);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_THAT(run.out, HasSubstr("quantized 14 linears"));
    const std::string golden = ::zt::testing::TestDataPath("nf4/models/" + c.golden);
    ExpectSameTensors(out, golden);
    const nlohmann::json got = QuantizationConfig(out), want = QuantizationConfig(golden);
    EXPECT_EQ(got, want) << got.dump(1) << "\n" << want.dump(1);
  }
}

TEST(QuantizeCliTest, BadFlagsAndExistingOutputAreNamed) {
  ::zt::testing::TempDir dir;
  const std::string base = ::zt::testing::TestDataPath("models/qwen2");
  auto blocksize = Quantize("--model " + base + " --out " + dir.Join("a") + " --blocksize 96", dir);
  EXPECT_EQ(blocksize.exit_code, 2);
  EXPECT_THAT(blocksize.err, HasSubstr("--blocksize 96, expected 32, 64"));
  auto type = Quantize("--model " + base + " --out " + dir.Join("a") + " --quant_type int4", dir);
  EXPECT_EQ(type.exit_code, 2);
  EXPECT_THAT(type.err, HasSubstr("--quant_type \"int4\", expected nf4 or fp4"));
  std::ofstream(dir.Join("taken")) << "x";
  auto taken = Quantize("--model " + base + " --out " + dir.Join("taken"), dir);
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_THAT(taken.err, HasSubstr("exists and is not an empty folder"));
  ASSERT_EQ(Quantize("--model " + base + " --out " + dir.Join("q"), dir).exit_code, 0);
  auto again = Quantize("--model " + dir.Join("q") + " --out " + dir.Join("q2"), dir);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("already has a quantization_config"));
}

}  // namespace
}  // namespace zt::worker::model
