#include "tests/sharding/zero3_test_model.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "tests/sharding/zero_test_model.h"

namespace zt::sharding::testing {

std::unique_ptr<Zero3Parameters> PartitionMlp(std::vector<NamedParameter>& params,
                                              std::shared_ptr<Communicator> comm) {
  std::vector<std::pair<std::string, at::Tensor*>> slots;
  std::vector<std::vector<std::string>> units;
  for (size_t i = 0; i < params.size(); ++i) {
    slots.emplace_back(params[i].name, &params[i].tensor);
    if (i % 2 == 0) units.emplace_back();
    units.back().push_back(params[i].name);
  }
  Zero3ParameterOptions options;
  options.persistence_threshold = 0;
  absl::StatusOr<std::unique_ptr<Zero3Parameters>> zero3 =
      Zero3Parameters::Create(slots, units, options, std::move(comm));
  EXPECT_TRUE(zero3.ok()) << zero3.status();
  return zero3.ok() ? std::move(*zero3) : nullptr;
}

at::Tensor Zero3MlpForward(Zero3Parameters& zero3, const at::Tensor& x) {
  std::vector<NamedParameter> full;
  for (int u = 0; u < zero3.num_units(); ++u) {
    for (const at::Tensor& t : zero3.Fetch(u, zero3.TrainableInputs(u))) full.push_back({"", t});
  }
  at::Tensor out = MlpForward(full, x);
  for (int u = 0; u < zero3.num_units(); ++u) zero3.Release(u);
  return out;
}

std::vector<NamedParameter> GatheredMlp(Zero3Parameters& zero3) {
  std::vector<NamedParameter> out;
  absl::StatusOr<std::vector<std::pair<std::string, at::Tensor>>> named =
      zero3.GatherNamedTensors(/*trainable_only=*/true);
  EXPECT_TRUE(named.ok()) << named.status();
  if (!named.ok()) return out;
  for (auto& [name, t] : *named) out.push_back({name, t});
  return out;
}

}  // namespace zt::sharding::testing
