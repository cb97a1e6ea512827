// The Store contract (sharding/collectives/store.h) as one parameterized suite, instantiated once per
// backend: tests/sharding/store_test.cc (in-memory, file), tests/coordinator/grpc_store_test.cc
// (the coordinator's gRPC store). A binary that instantiates it compiles store_contract.cc.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "sharding/collectives/store.h"

namespace zt::sharding {

// A store plus whatever must outlive it (a temp folder, a server).
struct StoreUnderTest {
  std::shared_ptr<Store> store;
  std::shared_ptr<void> keep_alive;
};

struct StoreBackend {
  std::string name;  // a gtest-parameter name: letters and digits only
  std::function<StoreUnderTest()> make;
};

class StoreContractTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    store_ = backend_.store;
    ASSERT_NE(store_, nullptr);
  }
  absl::Time Soon() const { return absl::Now() + absl::Seconds(10); }

  StoreUnderTest backend_;
  std::shared_ptr<Store> store_;
};

inline std::string StoreBackendName(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name;
}

}  // namespace zt::sharding
