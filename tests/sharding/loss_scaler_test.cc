// DeepSpeed's dynamic loss scaling, step for step, against DynamicLossScaler driven by the
// same overflow patterns (tests/data/schedules/loss_scaler.json).
#include "sharding/optim/loss_scaler.h"

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/test_data.h"

namespace zt::sharding {
namespace {

TEST(LossScalerGoldenTest, ScaleAndSkipSequenceMatchesDeepSpeed) {
  std::ifstream in(testing::TestDataPath("schedules/loss_scaler.json"));
  const nlohmann::json golden = nlohmann::json::parse(in);
  ASSERT_GE(golden["cases"].size(), 4u);
  for (const nlohmann::json& c : golden["cases"]) {
    SCOPED_TRACE(c["overflows"].get<std::string>());
    LossScalerOptions options;
    options.initial_scale_power = c["initial_scale_power"];
    options.loss_scale_window = c["loss_scale_window"];
    options.min_loss_scale = c["min_loss_scale"];
    options.hysteresis = c["hysteresis"];
    options.consecutive_hysteresis = c["consecutive_hysteresis"];
    LossScaler scaler(options);
    const std::string overflows = c["overflows"];
    const nlohmann::json& scales = c["scale_after_update"];
    for (size_t i = 0; i < overflows.size(); ++i) {
      absl::Status status = scaler.Update(overflows[i] == '1');
      if (!c["error_at_update"].is_null() && i == c["error_at_update"].get<size_t>()) {
        EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
        EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("already at minimum"));
        break;
      }
      ASSERT_TRUE(status.ok()) << "update " << i << ": " << status;
      EXPECT_EQ(scaler.scale(), scales[i].get<double>()) << "after update " << i;
    }
  }
}

TEST(LossScalerTest, StaticScaleNeverMoves) {
  LossScalerOptions options;
  options.static_scale = 128.0;
  LossScaler scaler(options);
  EXPECT_FALSE(scaler.dynamic());
  for (bool overflow : {true, true, false, true}) ASSERT_TRUE(scaler.Update(overflow).ok());
  EXPECT_EQ(scaler.scale(), 128.0);
}

TEST(LossScalerTest, StateRoundTripsForResume) {
  LossScaler first({0.0, 10, 2, 2, false, 1.0});
  for (bool overflow : {false, false, true, false}) ASSERT_TRUE(first.Update(overflow).ok());
  LossScaler resumed({0.0, 10, 2, 2, false, 1.0});
  resumed.Restore(first.state());
  for (bool overflow : {false, true, true, false, false, false}) {
    ASSERT_TRUE(first.Update(overflow).ok());
    ASSERT_TRUE(resumed.Update(overflow).ok());
    EXPECT_EQ(first.scale(), resumed.scale());
  }
}

TEST(UnscaleAndClipTest, DeepSpeedFormula) {
  // Norm of the unscaled gradients 4.0 against a clip of 1.0: divisor = loss_scale * (4 + 1e-6).
  EXPECT_DOUBLE_EQ(UnscaleAndClipDivisor(4.0 * 1024, 1024, 1.0), 1024 * (4.0 + 1e-6));
  EXPECT_DOUBLE_EQ(UnscaleAndClipDivisor(0.5 * 1024, 1024, 1.0), 1024.0);  // below the clip: unscale only
  EXPECT_DOUBLE_EQ(UnscaleAndClipDivisor(8.0, 1.0, 0.0), 1.0);             // clipping disabled
  EXPECT_DOUBLE_EQ(UnscaleAndClipDivisor(-1.0, 1.0, 1.0), 1.0);            // non-finite norm: step is skipped
}

}  // namespace
}  // namespace zt::sharding
