// Multi-process Gloo set-up shared by the ZeRO tests: the parent gives every rank a FileStore
// folder (ZT_TEST_STORE_DIR), each rank joins one Gloo communicator through it.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "sharding/collectives/communicator.h"

namespace zt::sharding::testing {

// In a rank process: a Gloo communicator over loopback, rendezvous under `job` in the folder the
// parent passed. EXPECTs success; nullptr on failure.
std::shared_ptr<Communicator> ConnectGlooRank(int rank, const std::string& job);

// In the parent: runs the current test as `world` ranks sharing a fresh store folder, at most
// `timeout`, and EXPECTs every rank to succeed.
void RunGlooRanks(int world, absl::Duration timeout);

}  // namespace zt::sharding::testing
