// Expected expansions are what `scontrol show hostnames` prints for the same lists.
#include "launch/slurm_hostlist.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zt::launch {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::vector<std::string> Expand(absl::string_view list) {
  absl::StatusOr<std::vector<std::string>> hosts = ExpandHostlist(list);
  EXPECT_TRUE(hosts.ok()) << hosts.status();
  return hosts.ok() ? *hosts : std::vector<std::string>{};
}

TEST(SlurmHostlistTest, ExpandsListsRangesAndPadding) {
  EXPECT_THAT(Expand("gnode[10,20,25,37]"), ElementsAre("gnode10", "gnode20", "gnode25", "gnode37"));
  EXPECT_THAT(Expand("node[01-04]"), ElementsAre("node01", "node02", "node03", "node04"));
  EXPECT_THAT(Expand("node[8-10]"), ElementsAre("node8", "node9", "node10"));
  EXPECT_THAT(Expand("node[008-010]"), ElementsAre("node008", "node009", "node010"));
  EXPECT_THAT(Expand("linux[1-3,6],login"), ElementsAre("linux1", "linux2", "linux3", "linux6", "login"));
  EXPECT_THAT(Expand("a1,b2 c3"), ElementsAre("a1", "b2", "c3"));
  EXPECT_THAT(Expand("single"), ElementsAre("single"));
  EXPECT_THAT(Expand("r[1-2]n[1-2]"), ElementsAre("r1n1", "r1n2", "r2n1", "r2n2"));
  EXPECT_THAT(Expand("gpu[1-2]-ib"), ElementsAre("gpu1-ib", "gpu2-ib"));
}

TEST(SlurmHostlistTest, ManualPageExample) {
  std::vector<std::string> expected;
  for (int i : {0, 1, 2, 3, 4, 5, 12, 20, 21, 22, 23, 24, 25}) expected.push_back("tux" + std::to_string(i));
  EXPECT_THAT(Expand("tux[0-5,12,20-25]"), ElementsAreArray(expected));
}

TEST(SlurmHostlistTest, RejectsMalformedLists) {
  for (const char* list : {"node[1-3", "node1-3]", "node[3-1]", "node[a-b]", "node[]", "node[1,,2]", "",
                           "node[[1]]", "n[0-99999999]"}) {
    absl::StatusOr<std::vector<std::string>> hosts = ExpandHostlist(list);
    EXPECT_EQ(hosts.status().code(), absl::StatusCode::kInvalidArgument) << list;
    EXPECT_THAT(std::string(hosts.status().message()), HasSubstr("Slurm host list '")) << list;
  }
}

TEST(SlurmTasksPerNodeTest, ExpandsRepeats) {
  EXPECT_THAT(*ExpandTasksPerNode("2(x3),1"), ElementsAre(2, 2, 2, 1));
  EXPECT_THAT(*ExpandTasksPerNode("1(x4)"), ElementsAre(1, 1, 1, 1));
  EXPECT_THAT(*ExpandTasksPerNode("8"), ElementsAre(8));
  for (const char* bad : {"", "0", "2(x0)", "2(3)", "2(x3", "x", "2(x3),"}) {
    EXPECT_EQ(ExpandTasksPerNode(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace zt::launch
