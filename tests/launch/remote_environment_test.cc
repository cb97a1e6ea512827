#include "launch/remote_environment.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zt::launch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseEnvFileTest, DeepSpeedFormat) {
  absl::StatusOr<std::vector<EnvVariable>> vars = ParseEnvFile(
      "# comment\n\nNCCL_IB_DISABLE=1\n  NCCL_SOCKET_IFNAME=eth0  \nEMPTY=\nWITH_EQUALS=a=b c\r\n", "env");
  ASSERT_TRUE(vars.ok()) << vars.status();
  EXPECT_THAT(*vars, ElementsAre(EnvVariable{"NCCL_IB_DISABLE", "1"}, EnvVariable{"NCCL_SOCKET_IFNAME", "eth0"},
                                 EnvVariable{"EMPTY", ""}, EnvVariable{"WITH_EQUALS", "a=b c"}));
}

TEST(ParseEnvFileTest, ErrorsNameTheLine) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {Case{"A=1\nno equals sign\n", "ds_env:2: 'no equals sign' is not NAME=VALUE"},
                        Case{"1A=x\n", "ds_env:1: '1A' is not a variable name"},
                        Case{"=x\n", "ds_env:1: '' is not a variable name"},
                        Case{"A-B=x\n", "ds_env:1: 'A-B' is not a variable name"}}) {
    absl::StatusOr<std::vector<EnvVariable>> vars = ParseEnvFile(c.text, "ds_env");
    ASSERT_FALSE(vars.ok()) << c.text;
    EXPECT_EQ(vars.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(vars.status().message(), HasSubstr(c.message));
  }
}

TEST(RemoteEnvironmentTest, ForwardsTheListedVariablesAndTheFileWins) {
  const std::vector<std::string> launcher = {
      "PATH=/opt/bin:/usr/bin", "LD_LIBRARY_PATH=/opt/lib", "NCCL_DEBUG=WARN", "GLOO_SOCKET_IFNAME=eth1",
      "OMP_NUM_THREADS=4",      "SSH_CONNECTION=1 2 3 4",   "DISPLAY=:0",      "ZEROTUNE_TOKEN=old",
      "LC_ALL=C",               "HOSTNAME=launcher",        "PYTHONPATH=/x",   "MY_SECRET=1"};
  const std::vector<std::string> env =
      RemoteEnvironment(launcher, {{"NCCL_DEBUG", "INFO"}, {"CUSTOM", "from file"}});
  EXPECT_THAT(env, ElementsAre("PATH=/opt/bin:/usr/bin", "LD_LIBRARY_PATH=/opt/lib", "GLOO_SOCKET_IFNAME=eth1",
                               "OMP_NUM_THREADS=4", "ZEROTUNE_TOKEN=old", "LC_ALL=C", "PYTHONPATH=/x",
                               "NCCL_DEBUG=INFO", "CUSTOM=from file"));
}

}  // namespace
}  // namespace zt::launch
