// --include/--exclude/--num_nodes/--num_gpus, checked against DeepSpeed's documented examples.
#include "launch/resource_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zt::launch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<HostSlots> kPool = {{"worker-0", 4}, {"worker-1", 4}, {"worker-2", 2}};

std::vector<HostDevices> Select(ResourceSelection selection) {
  absl::StatusOr<std::vector<HostDevices>> selected = SelectResources(kPool, selection);
  EXPECT_TRUE(selected.ok()) << selected.status();
  return selected.ok() ? *selected : std::vector<HostDevices>{};
}

TEST(ResourceFilterTest, EverythingByDefault) {
  std::vector<HostDevices> all = Select({});
  EXPECT_THAT(all, ElementsAre(HostDevices{"worker-0", {0, 1, 2, 3}}, HostDevices{"worker-1", {0, 1, 2, 3}},
                               HostDevices{"worker-2", {0, 1}}));
  EXPECT_EQ(CountRanks(all), 10);
}

TEST(ResourceFilterTest, IncludeWholeHostAndSomeSlotsKeepsHostfileOrder) {
  // DeepSpeed's docstring example: all of worker-0, slots 0 and 2 of worker-1.
  EXPECT_THAT(Select({"worker-1:2,0@worker-0", "", -1, -1}),
              ElementsAre(HostDevices{"worker-0", {0, 1, 2, 3}}, HostDevices{"worker-1", {0, 2}}));
}

TEST(ResourceFilterTest, IncludeMergesRepeatedHosts) {
  EXPECT_THAT(Select({"worker-1:3@worker-1:1,3", "", -1, -1}), ElementsAre(HostDevices{"worker-1", {1, 3}}));
}

TEST(ResourceFilterTest, ExcludeSlotsAndWholeHosts) {
  EXPECT_THAT(Select({"", "worker-1:0@worker-2", -1, -1}),
              ElementsAre(HostDevices{"worker-0", {0, 1, 2, 3}}, HostDevices{"worker-1", {1, 2, 3}}));
}

TEST(ResourceFilterTest, NumNodesAndNumGpus) {
  EXPECT_THAT(Select({"", "", 2, 2}), ElementsAre(HostDevices{"worker-0", {0, 1}}, HostDevices{"worker-1", {0, 1}}));
  EXPECT_THAT(Select({"", "", 1, -1}), ElementsAre(HostDevices{"worker-0", {0, 1, 2, 3}}));
}

struct BadSelection {
  ResourceSelection selection;
  const char* message;
};

class BadSelectionTest : public ::testing::TestWithParam<BadSelection> {};

TEST_P(BadSelectionTest, RejectedNamingTheFlag) {
  absl::StatusOr<std::vector<HostDevices>> selected = SelectResources(kPool, GetParam().selection);
  ASSERT_EQ(selected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(selected.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadSelectionTest,
    ::testing::Values(
        BadSelection{{"worker-0", "worker-1", -1, -1}, "--include and --exclude are mutually exclusive"},
        BadSelection{{"worker-0", "", 1, -1}, "cannot be combined with --include/--exclude"},
        BadSelection{{"worker-9", "", -1, -1}, "--include='worker-9': host 'worker-9' is not in the hostfile"},
        BadSelection{{"worker-2:2", "", -1, -1}, "host 'worker-2' has slots 0..1 in the hostfile, not 2"},
        BadSelection{{"worker-0:a", "", -1, -1}, "slot 'a' of host 'worker-0' is not a non-negative integer"},
        BadSelection{{"@worker-0", "", -1, -1}, "empty host name"},
        BadSelection{{"", "worker-0@worker-1@worker-2", -1, -1}, "leave no GPU to run on"},
        BadSelection{{"", "", 4, -1}, "--num_nodes=4: the hostfile lists only 3 host(s)"},
        BadSelection{{"", "", -1, 3}, "--num_gpus=3: host 'worker-2' has only slots=2"},
        BadSelection{{"", "", 0, -1}, "--num_nodes=0: expected >= 1"}));

}  // namespace
}  // namespace zt::launch
