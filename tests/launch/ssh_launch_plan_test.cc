#include "launch/ssh_launch_plan.h"

#include <unistd.h>

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace zt::launch {
namespace {

using ::testing::HasSubstr;

TEST(IsThisMachineTest, LoopbackHostNameAndOwnAddresses) {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  for (const std::string& host : std::vector<std::string>{"localhost", "127.0.0.1", "127.0.1.1", "::1", name}) {
    EXPECT_TRUE(IsThisMachine(host)) << host;
  }
  for (const char* host : {"203.0.113.77", "worker-1.invalid", "2001:db8::1"}) {
    EXPECT_FALSE(IsThisMachine(host)) << host;
  }
}

TEST(PlaceRanksTest, NodeMajorWithLocalRanksAndVisibleDevices) {
  const std::vector<RankPlacement> placements =
      PlaceRanks({{"localhost", {0, 2}}, {"worker-1.invalid", {1}}});
  ASSERT_EQ(placements.size(), 3u);
  struct Expected {
    const char* host;
    bool remote;
    int local_rank, local_world, node;
    const char* devices;
  };
  const Expected expected[] = {{"localhost", false, 0, 2, 0, "0,2"},
                               {"localhost", false, 1, 2, 0, "0,2"},
                               {"worker-1.invalid", true, 0, 1, 1, "1"}};
  for (int rank = 0; rank < 3; ++rank) {
    const RankPlacement& p = placements[rank];
    const Expected& e = expected[rank];
    EXPECT_EQ(p.host, e.host);
    EXPECT_EQ(p.remote, e.remote);
    EXPECT_EQ(p.local_rank, e.local_rank);
    EXPECT_EQ(p.local_world_size, e.local_world);
    EXPECT_EQ(p.node_rank, e.node);
    EXPECT_EQ(p.visible_devices, e.devices);
  }
}

TEST(PlanHostsTest, LocalOnlyHostfileNeedsNoSsh) {
  zt::testing::TempDir dir;
  std::ofstream(dir.Join("hostfile")) << "localhost slots=4\n127.0.0.1 slots=2\n";
  HostPlanRequest request;
  request.hostfile = dir.Join("hostfile");
  request.selection.include = "localhost:1,3@127.0.0.1";
  request.ssh.ssh = "/nonexistent/ssh";  // never run
  absl::StatusOr<HostPlan> plan = PlanHosts(request);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->placements.size(), 4u);
  EXPECT_TRUE(plan->remote_hosts.empty());
  EXPECT_EQ(plan->master_addr, "127.0.0.1");
  EXPECT_EQ(plan->node_order, (std::vector<std::string>{"localhost", "127.0.0.1"}));
  EXPECT_EQ(plan->placements[1].visible_devices, "1,3");
}

TEST(PlanHostsTest, ErrorsNameTheFlagOrHost) {
  zt::testing::TempDir dir;
  std::ofstream(dir.Join("hostfile")) << "localhost slots=2\nworker-1.invalid slots=2\n";
  HostPlanRequest request;
  request.hostfile = dir.Join("hostfile");
  request.selection.include = "worker-9";
  absl::StatusOr<HostPlan> plan = PlanHosts(request);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("worker-9"));
  // A remote host that ssh cannot reach fails the pre-flight, naming it.
  request.selection = {};
  request.worker = "/bin/true";
  request.cwd = "/";
  request.ssh.ssh = "/bin/false";
  request.launcher_env = {"PATH=/usr/bin:/bin"};
  plan = PlanHosts(request);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(plan.status().message(), HasSubstr("pre-flight: cannot reach host 'worker-1.invalid' over ssh (exit 1)"));
}

}  // namespace
}  // namespace zt::launch
