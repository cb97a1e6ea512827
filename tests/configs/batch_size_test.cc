#include "configs/batch_size.h"

#include <gtest/gtest.h>

namespace zt::configs {
namespace {

constexpr int64_t kNone = -999;  // "key absent" in the table

std::optional<int64_t> Opt(int64_t v) { return v == kNone ? std::nullopt : std::optional(v); }

struct DeriveCase {
  int64_t tb, mb, gas, world;
  int64_t want_tb, want_mb, want_gas;
};

class BatchDeriveTest : public ::testing::TestWithParam<DeriveCase> {};

// deepspeed/runtime/config.py _set_batch_related_parameters, floor division throughout.
TEST_P(BatchDeriveTest, DerivesAsDeepSpeed) {
  const DeriveCase& c = GetParam();
  Diagnostics diag;
  std::optional<BatchTriad> t = ResolveBatchTriad(Opt(c.tb), Opt(c.mb), Opt(c.gas), c.world, diag);
  ASSERT_TRUE(t.has_value()) << diag.ToStatus("x");
  EXPECT_EQ(t->train_batch_size, c.want_tb);
  EXPECT_EQ(t->train_micro_batch_size_per_gpu, c.want_mb);
  EXPECT_EQ(t->gradient_accumulation_steps, c.want_gas);
}

INSTANTIATE_TEST_SUITE_P(Table, BatchDeriveTest,
                         ::testing::Values(DeriveCase{16, 2, 8, 1, 16, 2, 8},
                                           DeriveCase{32, 2, kNone, 2, 32, 2, 8},
                                           DeriveCase{32, kNone, 4, 2, 32, 4, 4},
                                           DeriveCase{kNone, 2, 8, 4, 64, 2, 8},
                                           DeriveCase{64, kNone, kNone, 8, 64, 8, 1},
                                           DeriveCase{kNone, 4, kNone, 3, 12, 4, 1},
                                           DeriveCase{kNone, 4, kNone, 1, 4, 4, 1},
                                           DeriveCase{48, 4, kNone, 4, 48, 4, 3}));

struct FailCase {
  const char* name;
  int64_t tb, mb, gas, world;
  const char* path;
  const char* message;
};

class BatchFailTest : public ::testing::TestWithParam<FailCase> {};

TEST_P(BatchFailTest, FailsNamingKeysAndNumbers) {
  const FailCase& c = GetParam();
  Diagnostics diag;
  EXPECT_FALSE(ResolveBatchTriad(Opt(c.tb), Opt(c.mb), Opt(c.gas), c.world, diag).has_value());
  ASSERT_EQ(diag.errors().size(), 1u);
  EXPECT_EQ(diag.errors()[0].path, c.path);
  EXPECT_EQ(diag.errors()[0].message, c.message);
}

INSTANTIATE_TEST_SUITE_P(
    Table, BatchFailTest,
    ::testing::Values(
        FailCase{"product", 16, 2, 8, 2, "train_batch_size",
                 "train_batch_size is not equal to train_micro_batch_size_per_gpu * "
                 "gradient_accumulation_steps * world_size: 16 != 2 * 8 * 2; for world size 2 set "
                 "gradient_accumulation_steps to 4 or train_batch_size to 32"},
        // TB=10, MB=3, W=2: GAS = (10 // 3) // 2 = 1, and 10 != 3 * 1 * 2 (docs/ds_config.md).
        FailCase{"floor_division", 10, 3, kNone, 2, "train_batch_size",
                 "train_batch_size is not equal to train_micro_batch_size_per_gpu * "
                 "gradient_accumulation_steps * world_size: 10 != 3 * 1 * 2 (gradient_accumulation_"
                 "steps derived as (10 // 3) // 2); for world size 2 set train_batch_size to 6"},
        // TB=4, W=8: MB = 4 // 8 = 0.
        FailCase{"micro_zero", 4, kNone, kNone, 8, "train_micro_batch_size_per_gpu",
                 "Micro batch size per gpu: 0 has to be greater than 0 (gradient_accumulation_steps "
                 "= 1, train_micro_batch_size_per_gpu derived as 4 // 8)"},
        FailCase{"neither", kNone, kNone, 4, 1, "train_batch_size",
                 "either train_batch_size or train_micro_batch_size_per_gpu needs to be provided"},
        // A member the user wrote is checked as written, before anything is derived from it.
        FailCase{"gas_zero", kNone, 2, 0, 1, "gradient_accumulation_steps",
                 "Gradient accumulation steps: 0 has to be greater than 0"},
        FailCase{"micro_negative", kNone, -2, 4, 1, "train_micro_batch_size_per_gpu",
                 "Micro batch size per gpu: -2 has to be greater than 0"},
        // 3037000500^2 * 2 wraps an int64 (it printed a positive train_batch_size).
        FailCase{"overflow", kNone, 3037000500, 3037000500, 2, "train_batch_size",
                 "train_micro_batch_size_per_gpu * gradient_accumulation_steps * world_size = "
                 "3037000500 * 3037000500 * 2 overflows a 64-bit integer; expected a train batch "
                 "size below 2^63"},
        FailCase{"overflow_given_three", 16, 4611686018427387904, 4, 1, "train_batch_size",
                 "train_micro_batch_size_per_gpu * gradient_accumulation_steps * world_size = "
                 "4611686018427387904 * 4 * 1 overflows a 64-bit integer; expected a train batch "
                 "size below 2^63"},
        FailCase{"tb_negative", -8, 2, 2, 1, "train_batch_size",
                 "Train batch size: -8 has to be greater than 0"},
        FailCase{"gas_derived_zero", 8, 8, kNone, 2, "gradient_accumulation_steps",
                 "Gradient accumulation steps: 0 has to be greater than 0 (gradient_accumulation_"
                 "steps derived as (8 // 8) // 2)"}),
    [](const ::testing::TestParamInfo<FailCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace zt::configs
