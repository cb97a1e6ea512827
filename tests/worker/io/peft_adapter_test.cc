#include "worker/io/peft_adapter.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace zt::worker::io {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

Json PeftWritten() {
  PeftLoraConfig c;
  c.r = 16;
  c.lora_alpha = 32;
  c.target_modules = {"q_proj", "v_proj"};
  return PeftConfigJson(c);
}

TEST(PeftAdapterTest, WritesPeftsKeysSortedWithIntegralAlpha) {
  const Json j = PeftWritten();
  EXPECT_EQ(j["peft_type"], "LORA");
  EXPECT_EQ(j["inference_mode"], true);
  EXPECT_TRUE(j["lora_alpha"].is_number_integer());
  EXPECT_EQ(j["task_type"], "CAUSAL_LM");
  const std::string text = j.dump(2);
  EXPECT_LT(text.find("\"alpha_pattern\""), text.find("\"use_rslora\""));  // sort_keys
}

TEST(PeftAdapterTest, ParsesWhatPeftWritesAndIgnoresUnknownKeys) {
  Json j = PeftWritten();
  j["some_future_key"] = {1, 2};
  auto c = ParsePeftConfig(j, "adapter_config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->r, 16);
  EXPECT_EQ(c->lora_alpha, 32);
  EXPECT_EQ(c->target_modules, Json({"q_proj", "v_proj"}));
}

TEST(PeftAdapterTest, RejectsWhatItCannotComputeNamingTheKey) {
  Json dora = PeftWritten();
  dora["use_dora"] = true;
  auto s = ParsePeftConfig(dora, "a/adapter_config.json");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(s.status().message(), HasSubstr("a/adapter_config.json: use_dora = true"));
  Json ia3 = PeftWritten();
  ia3["peft_type"] = "IA3";
  EXPECT_THAT(ParsePeftConfig(ia3, "x").status().message(),
              HasSubstr("peft_type = \"IA3\", expected \"LORA\""));
  Json no_r = PeftWritten();
  no_r.erase("r");
  EXPECT_THAT(ParsePeftConfig(no_r, "x").status().message(), HasSubstr("r = null"));
  Json pattern = PeftWritten();
  pattern["rank_pattern"] = {{"q_proj", 4}};
  EXPECT_EQ(ParsePeftConfig(pattern, "x").status().code(), absl::StatusCode::kUnimplemented);
}

TEST(PeftAdapterTest, MissingFilesAreNamed) {
  ::zt::testing::TempDir dir;
  EXPECT_THAT(ReadPeftAdapter(dir.path()).status().message(), HasSubstr("adapter_config.json"));
  std::ofstream(dir.Join("adapter_config.json")) << PeftWritten().dump();
  std::ofstream(dir.Join("adapter_model.bin")) << "pickle";
  EXPECT_THAT(ReadPeftAdapter(dir.path()).status().message(),
              HasSubstr("adapter_model.bin (pickle) is not read"));
}

}  // namespace
}  // namespace zt::worker::io
