#include "launch/hostfile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zt::launch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(HostfileTest, ParsesDeepSpeedHostfiles) {
  absl::StatusOr<std::vector<HostSlots>> hosts = ParseHostfile(
      "# cluster A\n"
      "worker-0 slots=8\n"
      "\n"
      "   worker-1\tslots=4   # trailing text is ignored, as DeepSpeed's regex does\n"
      "10.0.0.7 slots=2\r\n",
      "hosts");
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  EXPECT_THAT(*hosts, ElementsAre(HostSlots{"worker-0", 8}, HostSlots{"worker-1", 4}, HostSlots{"10.0.0.7", 2}));
}

struct BadHostfile {
  const char* text;
  const char* message;
};

class BadHostfileTest : public ::testing::TestWithParam<BadHostfile> {};

TEST_P(BadHostfileTest, RejectedNamingTheLine) {
  absl::StatusOr<std::vector<HostSlots>> hosts = ParseHostfile(GetParam().text, "cfg/hosts");
  ASSERT_EQ(hosts.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(hosts.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadHostfileTest,
    ::testing::Values(
        BadHostfile{"worker-0 slots=8\nworker-0 slots=4\n",
                    "cfg/hosts:2: host 'worker-0' is already listed on line 1: 'worker-0 slots=4'"},
        BadHostfile{"worker-0 8\n", "cfg/hosts:1: bad entry: 'worker-0 8'"},
        BadHostfile{"worker-0\n", "cfg/hosts:1: bad entry"},
        BadHostfile{"slots=4\n", "cfg/hosts:1: bad entry"},
        BadHostfile{"a slots=\n", "cfg/hosts:1: bad slot count"},
        BadHostfile{"a slots=x\n", "cfg/hosts:1: bad slot count"},
        BadHostfile{"a slots=0\n", "cfg/hosts:1: slots must be 1..65536"},
        BadHostfile{"a slots=99999999\n", "bad slot count"},
        BadHostfile{"# only comments\n\n", "cfg/hosts: the hostfile lists no host"},
        BadHostfile{"", "the hostfile lists no host"}));

TEST(HostfileTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadHostfile("/nonexistent/zt/hostfile").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace zt::launch
