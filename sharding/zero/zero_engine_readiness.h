// The forward's side of ZeroEngine's asynchronous offload step (zero_engine.h): a
// ParameterReadiness (parameter_hook.h) that, before unit u of the model runs, waits for the
// update buckets holding u's trainable parameters and every bucket before them in update order.
// Units without trainable parameters do not wait. The engine must outlive this object.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sharding/zero/parameter_hook.h"
#include "sharding/zero/zero_engine.h"

namespace zt::sharding {

class ZeroEngineReadiness final : public ParameterReadiness {
 public:
  // `units`: the tensor names each unit reads (the model's ParameterUnits); names the engine
  // does not train are ignored.
  static std::unique_ptr<ZeroEngineReadiness> Create(
      ZeroEngine* engine, const std::vector<std::vector<std::string>>& units);

  // Throws c10::Error with the engine's status when its step failed.
  void WaitForUnit(int unit) override;
  // The update bucket unit `unit` waits for, or -1.
  int BucketOf(int unit) const;

 private:
  ZeroEngineReadiness(ZeroEngine* engine, std::vector<int> unit_buckets)
      : engine_(engine), unit_buckets_(std::move(unit_buckets)) {}

  ZeroEngine* engine_;
  std::vector<int> unit_buckets_;
};

}  // namespace zt::sharding
