#include "configs/training_arguments.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "configs/ds_config.h"
#include "configs/json_reader.h"
#include "configs/lora_target_modules.h"
#include "configs/training_arguments_cli.h"

namespace zt::configs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TrainingArgumentsTest, DefaultsFollowQwenFinetuneThenHf) {
  TrainingArguments a;
  // Qwen2.5 examples/sft/finetune.py
  EXPECT_EQ(a.lora_r, 64);
  EXPECT_EQ(a.lora_alpha, 16);
  EXPECT_EQ(a.lora_dropout, 0.05);
  EXPECT_EQ(a.model_max_length, 8192);
  EXPECT_EQ(a.optim, "adamw_torch");
  EXPECT_FALSE(a.use_lora);
  EXPECT_FALSE(a.q_lora);
  // HF TrainingArguments
  EXPECT_EQ(a.per_device_train_batch_size, 8);
  EXPECT_EQ(a.gradient_accumulation_steps, 1);
  EXPECT_EQ(a.learning_rate, 5e-5);
  EXPECT_EQ(a.adam_beta1, 0.9);
  EXPECT_EQ(a.adam_beta2, 0.999);
  EXPECT_EQ(a.adam_epsilon, 1e-8);
  EXPECT_EQ(a.max_grad_norm, 1.0);
  EXPECT_EQ(a.lr_scheduler_type, "linear");
  EXPECT_EQ(a.num_train_epochs, 3.0);
  EXPECT_EQ(a.max_steps, -1);
  EXPECT_EQ(a.seed, 42);
  EXPECT_TRUE(a.explicitly_set.empty());
}

std::vector<std::string> Names() {
  std::vector<std::string> names;
  for (const ArgumentSpec& spec : TrainingArgumentSpecs()) names.push_back(spec.name);
  return names;
}

TEST(TrainingArgumentsTest, RegistryHasTheNamesUsersKnowOnce) {
  std::vector<std::string> names = Names();
  for (const char* name :
       {"per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate",
        "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm",
        "lr_scheduler_type", "warmup_ratio", "warmup_steps", "num_train_epochs", "max_steps", "bf16",
        "fp16", "model_max_length", "use_lora", "q_lora", "lora_r", "lora_alpha", "lora_dropout",
        "lora_target_modules", "optim", "seed", "deepspeed", "model_name_or_path", "data_path",
        "output_dir", "gradient_checkpointing"}) {
    EXPECT_EQ(std::count(names.begin(), names.end(), name), 1) << name;
  }
}

struct SetCase {
  const char* name;
  const char* text;
  const char* want;  // ArgumentValueText after setting
};

class SetArgumentTest : public ::testing::TestWithParam<SetCase> {};

TEST_P(SetArgumentTest, ParsesAndMarksSet) {
  TrainingArguments a;
  ASSERT_TRUE(SetArgument(a, GetParam().name, GetParam().text).ok());
  EXPECT_EQ(ArgumentValueText(a, *FindArgumentSpec(GetParam().name)), GetParam().want);
  EXPECT_TRUE(a.IsSet(GetParam().name));
}

INSTANTIATE_TEST_SUITE_P(
    Table, SetArgumentTest,
    ::testing::Values(SetCase{"bf16", "True", "true"}, SetCase{"bf16", "false", "false"},
                      SetCase{"fp16", "1", "true"}, SetCase{"use_lora", "yes", "true"},
                      SetCase{"lora_r", "16", "16"}, SetCase{"lora_r", "2e1", "20"},
                      SetCase{"learning_rate", "3e-4", "0.0003"},
                      SetCase{"warmup_steps", "0.03", "0.03"},
                      SetCase{"lr_scheduler_type", "cosine", "cosine"},
                      SetCase{"lora_target_modules", "all-linear", "all-linear"}));

struct BadCase {
  const char* name;
  const char* text;
  const char* message;
};

class SetArgumentRejectTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(SetArgumentRejectTest, NamesFlagValueAndExpectation) {
  TrainingArguments a;
  absl::Status s = SetArgument(a, GetParam().name, GetParam().text);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), GetParam().message);
  EXPECT_FALSE(a.IsSet(GetParam().name));
}

INSTANTIATE_TEST_SUITE_P(
    Table, SetArgumentRejectTest,
    ::testing::Values(
        BadCase{"lora_r", "sixteen", "--lora_r: expected an integer, got \"sixteen\""},
        BadCase{"lora_r", "1.5", "--lora_r: expected an integer, got \"1.5\""},
        BadCase{"bf16", "maybe", "--bf16: expected true or false, got \"maybe\""},
        BadCase{"learning_rate", "nan", "--learning_rate: expected a finite number, got \"nan\""},
        BadCase{"optim", "sgd",
                "--optim: expected one of adamw_torch, adamw_torch_fused, adamw_hf, adamw_8bit, "
                "adamw_bnb_8bit, paged_adamw_8bit, paged_adamw_32bit, got \"sgd\""},
        BadCase{"lora_rank", "8",
                "--lora_rank: unknown training argument (did you mean \"lora_r\"?)"}));

TEST(TrainingArgumentsTest, JsonFormRoundTripsAndAcceptsLists) {
  TrainingArguments a;
  nlohmann::json job = {{"per_device_train_batch_size", 2},
                        {"learning_rate", 3e-4},
                        {"bf16", true},
                        {"lora_target_modules", {"q_proj", "v_proj"}},
                        {"gradient_accumulation_steps", 8.0}};
  ASSERT_TRUE(SetArgumentsFromJson(a, job, "job.json").ok());
  EXPECT_EQ(a.per_device_train_batch_size, 2);
  EXPECT_EQ(a.gradient_accumulation_steps, 8);
  EXPECT_TRUE(a.bf16);
  EXPECT_EQ(a.lora_target_modules, R"(["q_proj","v_proj"])");
  nlohmann::json back = TrainingArgumentsToJson(a);
  EXPECT_EQ(back["learning_rate"], 3e-4);
  EXPECT_EQ(back["lora_r"], 64);
  TrainingArguments b;
  ASSERT_TRUE(SetArgumentsFromJson(b, back, "back.json").ok());
  EXPECT_EQ(TrainingArgumentsToJson(b), back);
}

TEST(TrainingArgumentsTest, JsonFormRejectsUnknownKeysWithSource) {
  TrainingArguments a;
  absl::Status s = SetArgumentsFromJson(a, {{"learnig_rate", 1e-4}}, "job.json");
  EXPECT_EQ(s.message(),
            "job.json: --learnig_rate: unknown training argument (did you mean \"learning_rate\"?)");
  s = SetArgumentsFromJson(a, {{"lora_r", {{"x", 1}}}}, "job.json");
  EXPECT_EQ(s.message(), "job.json: lora_r: expected a string, number or boolean, got {\"x\":1}");
}

TEST(TrainingArgumentsTest, ValidationCollectsEveryProblem) {
  TrainingArguments a;
  a.per_device_train_batch_size = 0;
  a.lora_dropout = 1.0;
  a.bf16 = a.fp16 = true;
  a.q_lora = true;
  a.lora_target_modules = "q_proj,,v_proj";
  a.lora_weight_path = "old-adapter";  // accepted once and silently ignored
  a.bnb_4bit_compute_dtype = "int4";
  Diagnostics diag;
  ValidateTrainingArguments(a, diag);
  std::vector<std::string> lines;
  for (const ConfigIssue& e : diag.errors()) lines.push_back(e.ToString());
  EXPECT_THAT(lines,
              ElementsAre("--per_device_train_batch_size: must be > 0, got 0",
                          "--lora_dropout: must be in [0, 1), got 1",
                          "--bf16: --bf16 and --fp16 cannot both be set",
                          "--q_lora: needs --use_lora (QLoRA trains LoRA adapters on a 4-bit base)",
                          "--bnb_4bit_compute_dtype: \"int4\", expected bf16, fp16 or fp32 (or "
                          "bfloat16, float16, float32)",
                          "--lora_weight_path: old-adapter: not read by this trainer; pass the "
                          "PEFT adapter folder as --adapter_name_or_path to continue training it",
                          "--lora_target_modules: \"q_proj,,v_proj\": empty module name in the "
                          "list; expected module names \"a,b,c\", a JSON list [\"a\", \"b\"], a "
                          "regex or all-linear"));
}

TEST(TrainingArgumentsCliTest, BoolFlagsTakeOptionalValuesAsHfArgparse) {
  CLI::App app;
  TrainingArguments a;
  AddTrainingArgumentOptions(app, &a);
  std::vector<std::string> argv = {"--lora_r", "8", "--fp16", "False", "--use_lora",
                                   "--learning_rate=2e-4", "--bf16"};
  std::reverse(argv.begin(), argv.end());  // CLI11 parses a reversed vector
  app.parse(argv);
  EXPECT_EQ(a.lora_r, 8);
  EXPECT_FALSE(a.fp16);
  EXPECT_TRUE(a.use_lora);
  EXPECT_TRUE(a.bf16);
  EXPECT_EQ(a.learning_rate, 2e-4);
  EXPECT_THAT(a.explicitly_set, ::testing::UnorderedElementsAre("lora_r", "fp16", "use_lora",
                                                                "learning_rate", "bf16"));
}

// --adapter_name_or_path implies --use_lora whatever the order; an explicit --use_lora false
// stays false and fails validation naming both flags.
TEST(TrainingArgumentsCliTest, AdapterImpliesUseLoraInEitherOrder) {
  struct Case {
    std::vector<std::string> argv;
    bool use_lora;
  };
  for (const Case& c : std::vector<Case>{
           {{"--adapter_name_or_path", "ad"}, true},
           {{"--use_lora", "false", "--adapter_name_or_path", "ad"}, false},
           {{"--adapter_name_or_path", "ad", "--use_lora", "false"}, false},
           {{"--adapter_name_or_path", "ad", "--use_lora"}, true}}) {
    CLI::App app;
    TrainingArguments a;
    AddTrainingArgumentOptions(app, &a);
    std::vector<std::string> argv = c.argv;
    std::reverse(argv.begin(), argv.end());
    app.parse(argv);
    EXPECT_EQ(a.use_lora, c.use_lora) << argv.size();
    Diagnostics diag;
    ValidateTrainingArguments(a, diag);
    if (c.use_lora) {
      EXPECT_FALSE(diag.has_errors()) << diag.ToStatus("args");
    } else {
      ASSERT_EQ(diag.errors().size(), 1u);
      EXPECT_EQ(diag.errors()[0].ToString(),
                "--use_lora: false contradicts --adapter_name_or_path ad, which continues "
                "training that LoRA adapter");
    }
  }
}

TEST(TrainingArgumentsCliTest, BadValueIsAValidationErrorNamingTheFlag) {
  CLI::App app;
  TrainingArguments a;
  AddTrainingArgumentOptions(app, &a);
  try {
    app.parse(std::vector<std::string>{"x", "--lora_alpha"});
    FAIL() << "expected a CLI11 error";
  } catch (const CLI::ValidationError& e) {
    EXPECT_EQ(std::string(e.what()), "--lora_alpha: expected an integer, got \"x\"");
  }
}

TEST(TrainingArgumentsCliTest, HelpListsDefaultsAndChoices) {
  CLI::App app;
  TrainingArguments a;
  AddTrainingArgumentOptions(app, &a);
  std::string help = app.help();
  EXPECT_THAT(help, HasSubstr("--lora_r"));
  EXPECT_THAT(help, HasSubstr("[default: 64]"));
  EXPECT_THAT(help, HasSubstr("{none,all,lora_only}"));
}

struct TargetCase {
  const char* text;
  LoraTargetModules::Kind kind;
  const char* module;
  bool matches;
};

class LoraTargetModulesTest : public ::testing::TestWithParam<TargetCase> {};

// PEFT check_target_module_exists: lists match exact names or ".name" suffixes; a string is
// re.fullmatch'ed; all-linear is every linear but the output head.
TEST_P(LoraTargetModulesTest, MatchesAsPeft) {
  absl::StatusOr<LoraTargetModules> t = ParseLoraTargetModules(GetParam().text);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->kind, GetParam().kind);
  EXPECT_EQ(t->Matches(GetParam().module, true), GetParam().matches);
}

using K = LoraTargetModules::Kind;
INSTANTIATE_TEST_SUITE_P(
    Table, LoraTargetModulesTest,
    ::testing::Values(
        TargetCase{"q_proj,v_proj", K::kNames, "model.layers.0.self_attn.q_proj", true},
        TargetCase{"q_proj, v_proj", K::kNames, "model.layers.0.self_attn.k_proj", false},
        TargetCase{"proj", K::kNames, "model.layers.0.self_attn.q_proj", false},
        TargetCase{R"(["o_proj", "down_proj"])", K::kNames, "model.layers.3.mlp.down_proj", true},
        TargetCase{R"(.*\.(q|v)_proj)", K::kRegex, "model.layers.1.self_attn.v_proj", true},
        TargetCase{R"(.*\.(q|v)_proj)", K::kRegex, "model.layers.1.self_attn.o_proj", false},
        TargetCase{R"(q_proj|v_proj)", K::kRegex, "model.layers.1.self_attn.q_proj", false},
        TargetCase{"all-linear", K::kAllLinear, "model.layers.0.mlp.up_proj", true},
        TargetCase{"ALL-LINEAR", K::kAllLinear, "lm_head", false}));

TEST(LoraTargetModulesParseTest, RejectsBadSpellings) {
  EXPECT_EQ(ParseLoraTargetModules("").status().message(),
            "\"\": empty; expected module names \"a,b,c\", a JSON list [\"a\", \"b\"], a regex or "
            "all-linear");
  EXPECT_EQ(ParseLoraTargetModules("[1, 2]").status().message(),
            "\"[1, 2]\": list entry 1 is not a module name; expected module names \"a,b,c\", a "
            "JSON list [\"a\", \"b\"], a regex or all-linear");
  EXPECT_THAT(std::string(ParseLoraTargetModules("(q_proj").status().message()),
              HasSubstr("not a valid regular expression"));
}

TEST(LoraTargetModulesParseTest, PeftJsonForm) {
  EXPECT_EQ(ParseLoraTargetModules("v_proj,q_proj")->ToPeftJson(), R"(["q_proj","v_proj"])");
  EXPECT_EQ(ParseLoraTargetModules("all-linear")->ToPeftJson(), R"("all-linear")");
}

}  // namespace
}  // namespace zt::configs

namespace zt::configs {
namespace {

// The shipped job files (configs/jobs/) are training-argument objects that resolve with their
// ds_config for one and eight ranks.
TEST(ShippedJobsTest, LoadValidateAndResolve) {
  const std::string root = std::string(std::getenv("ZT_TEST_DATA")) + "/../../";
  for (const char* job : {"qwen2.5-7b-lora-zero2-offload.json", "qwen3-8b-qlora-zero2-offload.json"}) {
    absl::StatusOr<nlohmann::json> j = ReadTolerantJsonFile(root + "configs/jobs/" + job);
    ASSERT_TRUE(j.ok()) << j.status();
    TrainingArguments args;
    ASSERT_TRUE(SetArgumentsFromJson(args, *j, job).ok()) << job;
    Diagnostics diag;
    ValidateTrainingArguments(args, diag);
    EXPECT_FALSE(diag.has_errors()) << diag.ToStatus(job);
    DsResolveOptions options;
    options.args = &args;
    absl::StatusOr<DsConfig> ds = LoadDsConfig(root + args.deepspeed, options);
    ASSERT_TRUE(ds.ok()) << job << ": " << ds.status();
    EXPECT_TRUE(ds->bf16.enabled);
    EXPECT_EQ(ds->train_micro_batch_size_per_gpu, args.per_device_train_batch_size);
  }
}

}  // namespace
}  // namespace zt::configs
